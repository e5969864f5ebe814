/*
 * smpp/sim/log.c — the simulator's log line (see log.h).
 *
 * Owns: nothing.  May call: libc.
 */
#include "smpp/sim/log.h"
#include "smpp/sim/smsc.h"

#include <stdarg.h>
#include <stdio.h>

int sim_log_on(const struct smsc_config *cfg, enum sim_log_level level)
{
    if (level == SIM_LOG_DEBUG)
        return cfg->verbose;
    if (level == SIM_LOG_INFO)
        return !cfg->quiet;
    return 1;
}

void sim_log(const struct smsc_config *cfg, enum sim_log_level level,
             const char *tag, const char *fmt, ...)
{
    if (!sim_log_on(cfg, level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s\n", tag ? tag : "smsc", line);
}

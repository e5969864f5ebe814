/*
 * smpp/sim/log.h — the simulator's log line: "[tag] text" on stderr.
 *
 * Levels follow the SMSC's config: SIM_LOG_DEBUG only with cfg->verbose
 * (-v: every PDU), SIM_LOG_INFO unless cfg->quiet (-q), SIM_LOG_ERR always.
 * The tag names the peer (system_id once bound, else host:port) or the
 * room ("smsc", "ussd"); NULL means "smsc".
 *
 * Owns: nothing.  May call: libc (stdio).  Used by smpp/sim/smsc.c and the
 * files it owns (ussd.c, concat.c); the CLI modes print their own lines.
 */
#ifndef KYZMAT_SIM_LOG_H
#define KYZMAT_SIM_LOG_H

struct smsc_config;

enum sim_log_level { SIM_LOG_ERR = 0, SIM_LOG_INFO, SIM_LOG_DEBUG };

/* True when a line of this level would be printed under cfg. */
int sim_log_on(const struct smsc_config *cfg, enum sim_log_level level);

__attribute__((format(printf, 4, 5)))
void sim_log(const struct smsc_config *cfg, enum sim_log_level level,
             const char *tag, const char *fmt, ...);

#endif

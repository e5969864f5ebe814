/*
 * tests/fuzz/fuzz_config.c — libFuzzer target for config_parse_string().
 *
 * Feeds arbitrary bytes as a config file; the parser must never crash,
 * overread or leak, and must return either a config or at least one error.
 * Seeds: tests/fuzz/corpus/config/ (also replayed by `make test`).
 * May call: gateway/config, libc.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = NULL;
    struct config_errors errs = { 0 };
    int rc = config_parse_string((const char *)data, size, "fuzz.yaml", &cfg,
                                 &errs);
    if (rc == 0) {
        /* a good parse: a config, no errors, every smsc entry named */
        if (!cfg || errs.n != 0)
            abort();
        for (size_t i = 0; i < cfg->smsc_count; i++)
            if (!cfg->smsc[i].name || !config_smsc_equal(&cfg->smsc[i], &cfg->smsc[i]))
                abort();
    } else {
        /* a refusal: no config, at least one error */
        if (cfg || (errs.n == 0 && errs.dropped == 0))
            abort();
        char line[512];
        for (size_t i = 0; i < errs.n; i++)
            config_error_format(&errs, &errs.v[i], line, sizeof line);
    }
    config_free(cfg);
    config_errors_free(&errs);
    return 0;
}

/*
 * tests/diff/kannel.h — Kannel 1.4.5's SMPP codec (libgw) made ready for
 * the two programs that run it beside ours: the differential test
 * (tests/diff/diff_kannel.c) and the codec benchmark (bench/bench_pdu.c).
 *
 * kannel_codec_init() starts gwlib with its log silenced and initialises
 * Kannel's SMPP codec with an empty configuration (its TLV table, none
 * configured).  On failure it prints the reason and the "0 passed,
 * 1 failed" line both programs end with, and returns -1; else 0.
 *
 * Owns: nothing (gwlib's globals are Kannel's).  May call: Kannel
 * libgw/gwlib, libc.  Main thread only: Kannel is not thread-safe here.
 */
#ifndef KYZMAT_TESTS_DIFF_KANNEL_H
#define KYZMAT_TESTS_DIFF_KANNEL_H

#include <stdio.h>

#include "gwlib/gwlib.h"
#include "gw/smsc/smpp_pdu.h"

static int kannel_codec_init(void)
{
    gwlib_init();
    log_set_output_level(GW_PANIC);
    log_set_log_level(GW_PANIC);
    Cfg *kcfg = cfg_create(octstr_imm("/dev/null"));
    int kinit = smpp_pdu_init(kcfg);
    cfg_destroy(kcfg);
    if (kinit != 0) {
        printf("cannot initialise Kannel's SMPP codec\n0 passed, 1 failed\n");
        return -1;
    }
    return 0;
}

#endif

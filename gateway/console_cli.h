/*
 * gateway/console_cli.h — the console's command-line side (issue 10
 * console): `kyzmatd --create-admin NAME [--random-password]`, and the
 * audit rows of what the command line changes (--create-token).
 *
 * Runs before any loop exists, on a store that is not attached (each
 * write commits before it returns), so hashing here may take its time.
 * Ownership: borrows the store and the streams.
 * May call: gateway/console_core, gateway/pwhash, gateway/store,
 * base/clock, libsodium, libc (termios for the password prompt).
 */
#ifndef KYZMAT_GATEWAY_CONSOLE_CLI_H
#define KYZMAT_GATEWAY_CONSOLE_CLI_H

#include <stdbool.h>
#include <stdio.h>

struct store;

/*
 * console_create_admin — make the admin account name: the password is
 * generated and printed once (random), else asked twice on a terminal
 * with echo off, or read as one line from `in` when it is not a terminal.
 * Writes an audit row (actor "cli").  Prints what it did on out, errors on
 * errf.  Returns the exit status: 0 done, 1 refused (bad name, name taken,
 * short password, mismatch, database error).
 */
int console_create_admin(struct store *st, const char *name, bool random,
                         FILE *in, FILE *out, FILE *errf);

/* An audit row for the command line (actor "cli", peer "local"); detail
 * is JSON text or NULL.  Returns a store code. */
int console_audit_cli(struct store *st, const char *action, const char *target,
                      const char *detail);

#endif

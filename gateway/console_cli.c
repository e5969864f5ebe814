/*
 * gateway/console_cli.c — kyzmatd --create-admin and the command line's
 * audit rows; see console_cli.h.
 * May call: gateway/console_core, gateway/pwhash, gateway/store,
 * base/clock, libsodium, libc.
 */
#include "gateway/console_cli.h"

#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "gateway/console_core.h"
#include "gateway/pwhash.h"
#include "gateway/store.h"

#define PW_CAP (PWHASH_PASSWORD_MAX + 2)

int console_audit_cli(struct store *st, const char *action, const char *target,
                      const char *detail)
{
    struct store_audit a = { .at = (int64_t)kz_wall_ms(), .actor = "cli",
                             .peer = "local", .action = action,
                             .target = target, .detail = detail };
    return store_audit_add(st, &a);
}

/* One line from in into buf (newline dropped), with the terminal's echo
 * off when in is one.  false at end of file or when too long. */
static bool read_line(FILE *in, FILE *out, const char *prompt, char *buf,
                      size_t cap)
{
    int fd = fileno(in);
    bool tty = isatty(fd);
    struct termios old, quiet;
    if (tty && tcgetattr(fd, &old) == 0) {
        fprintf(out, "%s", prompt);
        fflush(out);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    } else {
        tty = false;
    }
    bool ok = fgets(buf, (int)cap, in) != NULL;
    if (tty) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fprintf(out, "\n");
    }
    size_t n = ok ? strlen(buf) : 0;
    if (ok && n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (ok && n + 1 >= cap)
        ok = false;                     /* longer than we take */
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return ok;
}

/* The password into pw: generated, asked twice, or one line of in. */
static bool get_password(bool random, FILE *in, FILE *out, FILE *errf,
                         char *pw, size_t cap)
{
    if (random) {
        static const char set[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRS"
                                  "TUVWXYZ23456789";
        for (size_t i = 0; i < 20; i++)
            pw[i] = set[randombytes_uniform(sizeof set - 1)];
        pw[20] = '\0';
        return true;
    }
    char again[PW_CAP];
    if (!read_line(in, out, "Password: ", pw, cap)) {
        fprintf(errf, "no password given (or longer than 1024 bytes)\n");
        return false;
    }
    const char *why = console_password_problem(pw);
    if (why) {
        fprintf(errf, "password refused: %s\n", why);
        return false;
    }
    if (isatty(fileno(in))) {
        bool same = read_line(in, out, "Again: ", again, sizeof again) &&
                    strcmp(again, pw) == 0;
        sodium_memzero(again, sizeof again);
        if (!same) {
            fprintf(errf, "the two passwords differ\n");
            return false;
        }
    }
    return true;
}

int console_create_admin(struct store *st, const char *name, bool random,
                         FILE *in, FILE *out, FILE *errf)
{
    struct store_account a;
    if (!console_name_ok(name)) {
        fprintf(errf, "bad account name \"%s\": 1-64 of a-z 0-9 . _ - @, "
                "starting with a letter or digit\n", name);
        return 1;
    }
    if (store_account_get(st, name, &a) == STORE_OK) {
        fprintf(errf, "an account named \"%s\" exists already\n", name);
        return 1;
    }
    char pw[PW_CAP], hash[PWHASH_STR_MAX];
    if (!get_password(random, in, out, errf, pw, sizeof pw)) {
        sodium_memzero(pw, sizeof pw);
        return 1;
    }
    int hrc = pwhash_hash_now(pw, hash);
    int rc = hrc == 0 ? store_account_add(st, name, "admin", hash,
                                          (int64_t)kz_wall_ms(), NULL)
                      : STORE_ERROR;
    if (rc == STORE_OK)
        rc = console_audit_cli(st, "account.create", name,
                               "{\"role\":\"admin\",\"via\":\"--create-admin\"}");
    if (rc == STORE_OK)
        rc = store_flush(st);
    if (rc != STORE_OK) {
        fprintf(errf, "cannot create the account: %s\n",
                hrc ? "password hashing failed (out of memory?)"
                    : rc == STORE_CONFLICT ? "the name was taken meanwhile"
                                           : store_errmsg(st));
        sodium_memzero(pw, sizeof pw);
        return 1;
    }
    if (random)
        fprintf(out, "created admin account \"%s\" with password %s\n"
                "(shown once; change it in the console)\n", name, pw);
    else
        fprintf(out, "created admin account \"%s\"\n", name);
    sodium_memzero(pw, sizeof pw);
    return 0;
}

/*
 * gateway/main.c — kyzmatd's composition root: the command line, the
 * config, the one event_base, signals, reload.
 *
 * What it does: parses the command line and the config (refusing to start
 * on any error), opens the log, builds the modules on a single libevent
 * event_base (dialog store, fetch, USSD service, database, outbox,
 * reminders, HTTP API), wires them to each other through their ops
 * structs, creates one link per smsc entry (gateway/links) and runs the
 * loop.  What arrives on a link is routed by gateway/mo (receipts to the
 * outbox, USSD to gateway/ussd, PING, MO and keywords).
 *
 * Signals arrive through libevent (evsignal), so handlers run as ordinary
 * loop callbacks:
 *   SIGTERM, SIGINT  stop every link (unbind), leave the loop when all are
 *                    CLOSED or 3 s have passed; exit status 0.  A second
 *                    signal leaves at once.
 *   SIGHUP           reopen the log and reload the config file.  A file with
 *                    errors is refused (errors logged, old config kept).  A
 *                    good one has its menu set loaded on a worker thread
 *                    (gateway/menuload: seconds for a large set, none of
 *                    them on the loop); when the set lands, on the loop, a
 *                    bad set refuses the whole reload, a good one is applied
 *                    with its config: new dialogs get the new set, smsc
 *                    entries added get a new link, removed ones are stopped
 *                    and freed, changed ones are restarted, unchanged ones
 *                    are not touched.  One load at a time: SIGHUPs during a
 *                    load make one more reload after it (struct reload).
 *                    The HTTPS listeners read their certificate files again
 *                    at once (issue 13; paths as at start): a bad file keeps
 *                    the old certificate and is logged.
 *
 * Ownership: struct daemon (gateway/daemon.h) owns the config, the modules
 * and the events; struct reload (here) owns the menu loader, its thread and
 * a config waiting for its menus, and is freed (the thread joined) before
 * the daemon; the link registry owns the links, each link its esme.  A
 * link being retired (removed or changed on reload) is stopped and freed
 * from a timer of its own, never from inside the esme's callback: when it
 * reports CLOSED, or after a 3 s grace period.
 * May call: base/metrics, gateway/admin, gateway/api, gateway/appeals,
 * gateway/config, gateway/console (its options), gateway/console_cli,
 * gateway/console_menus and gateway/emulator (issue 10 console-ws),
 * gateway/dialogs, gateway/fetch,
 * gateway/links, gateway/log, gateway/outbox, gateway/reminders,
 * gateway/menuload, gateway/menuwatch and gateway/console_publish (issue
 * 10 publish), gateway/store, gateway/ussd, menus/load, menus/menu,
 * libevent, libc.
 * No exit() anywhere: main returns.
 */
#include "base/metrics.h"
#include "gateway/admin.h"
#include "gateway/api.h"
#include "gateway/appeals.h"
#include "gateway/config.h"
#include "gateway/console.h"
#include "gateway/console_cli.h"
#include "gateway/console_menus.h"
#include "gateway/emulator.h"
#include "gateway/console_publish.h"   /* issue 10 publish */
#include "gateway/daemon.h"
#include "gateway/dialogs.h"
#include "gateway/sentinel.h"
#include "gateway/fetch.h"
#include "gateway/links.h"
#include "gateway/log.h"
#include "gateway/menuload.h"
#include "gateway/menuwatch.h"         /* issue 10 publish */
#include "gateway/outbox.h"
#include "gateway/reminders.h"
#include "gateway/store.h"
#include "gateway/ussd.h"
#include "menus/load.h"
#include "menus/menu.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the wiring between modules ---------------------------------------- */

static void ussd_outbox_kick(void *ud)
{
    struct daemon *d = ud;
    if (d->outbox)
        outbox_kick(d->outbox);
}

static void on_gate(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_msg(KLOG_WARN, "dialogs", "%s not up after 3 s; binding anyway (USSD "
            "answers \"temporarily unavailable\" until it is)",
            dialogs_describe(d->store));
    start_links(d);
}

static void on_store_state(void *arg, enum dialogs_state st, const char *reason)
{
    struct daemon *d = arg;
    if (st == DIALOGS_UP)
        start_links(d);
    if (st == DIALOGS_UP)
        log_msg(KLOG_INFO, "dialogs", "%s is up", dialogs_describe(d->store));
    else
        log_msg(KLOG_WARN, "dialogs", "%s is down: %s; USSD answers "
                "\"temporarily unavailable\" until it is back",
                dialogs_describe(d->store), reason ? reason : "?");
}

/* ---- start-up helpers ------------------------------------------------- */

/* Open the database named by cfg (creating its directory).  Returns NULL
 * with a reason in err. */
static struct store *open_db(const struct config *cfg, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", cfg->db_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0755);
                *p = '/';
            }
        mkdir(dir, 0755);
    }
    struct store *st = NULL;
    if (store_open(cfg->db_path, cfg->db_synchronous == CONFIG_SYNC_FULL
                                     ? STORE_SYNC_FULL : STORE_SYNC_NORMAL,
                   &st, err, errlen) != STORE_OK)
        return NULL;
    return st;
}

/* Reminder settings from the config; the fallback language (bookings made
 * without one) is the menu set's default language, else "ru". */
static void reminders_opts_from(const struct config *cfg,
                                const struct menu_set *menus,
                                struct reminders_opts *o)
{
    memset(o, 0, sizeof *o);
    o->enabled = cfg->reminders;
    int at = config_hhmm_minutes(cfg->reminder_at);
    o->at_minute = at < 0 ? 18 * 60 : (unsigned)at;
    o->check_s = cfg->reminder_check_s;
    o->skip_recent_ms = cfg->reminder_skip_recent_ms;
    o->fallback_lang = menus && menus->nlang > 0 && menus->default_lang < menus->nlang
                           ? menus->lang[menus->default_lang] : "ru";
}

/* Every loader error, printed on fp (start-up) or logged (fp NULL). */
static void report_menu_errors(const struct menu_errors *errs, FILE *fp)
{
    char line[512];
    for (size_t i = 0; i < errs->n; i++) {
        menu_error_format(&errs->v[i], line, sizeof line);
        if (fp)
            fprintf(fp, "%s\n", line);
        else
            log_msg(KLOG_ERROR, NULL, "%s", line);
    }
    if (errs->dropped) {
        if (fp)
            fprintf(fp, "(and %zu more errors)\n", errs->dropped);
        else
            log_msg(KLOG_ERROR, NULL, "(and %zu more errors)", errs->dropped);
    }
}

/* Load the menu set named by cfg at start-up, before the loop runs (a
 * reload loads it off the loop: gateway/menuload); on errors print every
 * one on fp. */
static struct menu_set *load_menus(const struct config *cfg, FILE *fp)
{
    struct menu_set *set = NULL;
    struct menu_errors errs;
    memset(&errs, 0, sizeof errs);
    struct menu_load_opts o = { .max_bytes = cfg->menus_max_bytes };
    if (menu_set_load_dir_opts(cfg->menus, &o, &set, &errs) != 0)
        report_menu_errors(&errs, fp);
    menu_errors_free(&errs);
    return set;
}

/* ---- config, reload ------------------------------------------------------ */

static void print_errors(FILE *fp, const struct config_errors *errs)
{
    char line[512];
    for (size_t i = 0; i < errs->n; i++)
        fprintf(fp, "%s\n", config_error_format(errs, &errs->v[i], line, sizeof line));
    if (errs->dropped)
        fprintf(fp, "(and %zu more errors)\n", errs->dropped);
}

static void log_errors(const struct config_errors *errs)
{
    char line[512];
    for (size_t i = 0; i < errs->n; i++)
        log_msg(KLOG_ERROR, NULL, "%s",
                config_error_format(errs, &errs->v[i], line, sizeof line));
    if (errs->dropped)
        log_msg(KLOG_ERROR, NULL, "(and %zu more errors)", errs->dropped);
}

/* Load the configuration named on the command line (or the defaults). */
static int load_config(const char *path, struct config **out,
                       struct config_errors *errs)
{
    if (path)
        return config_load_file(path, out, errs);
    *out = config_defaults();
    return *out ? 0 : -1;
}

static void apply_log_settings(const struct daemon *d, const struct config *old,
                               const struct config *cfg)
{
    log_set_level(d->verbose ? KLOG_DEBUG : cfg->log_level);
    char err[256];
    if (old && strcmp(old->log_file, cfg->log_file) == 0)
        return;                 /* reopened at the SIGHUP already */
    if (log_open(cfg->log_file, err, sizeof err) != 0)
        log_msg(KLOG_ERROR, NULL, "cannot open the log: %s; keeping the old one",
                err);
}

/*
 * A reload in flight.  SIGHUP reads and checks the config file at once (it
 * is small and bounded), then loads the menu set it names on a worker
 * thread (gateway/menuload), so the loop keeps serving dialogs, links and
 * the API meanwhile with the old config and menus.  When the set lands the
 * loop applies the reload whole (config and menus together) or refuses it
 * whole: a bad reload keeps the old config, as before.  One at a time: a
 * SIGHUP during a load sets `again`, and once the load has landed one more
 * reload runs, reading the file afresh (any number of SIGHUPs meanwhile
 * make one).  Loop thread only.
 */
static bool strlist_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

struct reload {
    struct daemon *d;
    struct menuload *ml;
    struct config *cfg;        /* read at SIGHUP, waiting for its menus */
    bool again;                /* a SIGHUP came during the load */
    /* issue 10 publish: the console's live version, followed */
    struct menuwatch *watch;
    struct console_publish_opts pub;   /* the publish routes' options */
};

/* The part of a reload that needs its menu set: applied on the loop once
 * the set has landed.  Takes cfg and menus (one reference each). */
static void reload_apply(struct daemon *d, struct config *cfg, struct menu_set *menus)
{
    if (strcmp(cfg->redis_master, d->cfg->redis_master) != 0 ||
        !strlist_equal(cfg->redis_sentinels, cfg->redis_sentinel_count,
                       d->cfg->redis_sentinels, d->cfg->redis_sentinel_count))
        log_msg(KLOG_WARN, "dialogs", "redis.sentinels or redis.master changed: "
                "applies at the next restart; still asking %s",
                dialogs_describe(d->store));
    if (strcmp(cfg->redis_url, d->cfg->redis_url) != 0) {
        /* Applied live; a URL the store cannot use refuses the whole reload.
         * Descriptions never carry the password. */
        char was[600], serr[256] = "";
        snprintf(was, sizeof was, "%s", dialogs_describe(d->store));
        if (dialogs_set_url(d->store, cfg->redis_url, serr, sizeof serr) != 0) {
            log_msg(KLOG_ERROR, NULL, "reload refused: redis.url: %s; still running "
                    "the previous configuration and menus", serr);
            menu_set_unref(menus);
            config_free(cfg);
            return;
        }
        log_msg(KLOG_INFO, "dialogs", "redis.url changed: moving from %s to %s; "
                "dialogs in flight may end \"temporarily unavailable\"", was,
                dialogs_describe(d->store));
    }
    /* new dialogs get the new set; those in progress keep their reference */
    ussd_set_menus(d->ussd, menus);
    menu_set_unref(d->menus);
    d->menus = menus;
    log_msg(KLOG_INFO, NULL, "menus loaded from %s (%u nodes)", cfg->menus,
            (unsigned)menus->nnode);
    apply_log_settings(d, d->cfg, cfg);

    struct links_change ch;
    links_apply(d, cfg, &ch);
    config_free(d->cfg);
    d->cfg = cfg;
    struct reminders_opts ro;
    reminders_opts_from(cfg, d->menus, &ro);
    reminders_set_opts(d->reminders, &ro);
    log_msg(KLOG_INFO, NULL,
            "reloaded %s: %zu smsc (%u added, %u removed, %u restarted, "
            "%u unchanged%s)",
            d->config_path, cfg->smsc_count, ch.added, ch.removed, ch.restarted,
            ch.kept, ch.failed ? ", some failed to start" : "");
}

/* SIGHUP with no load running: read the config, start its menu load. */
static void reload_start(struct reload *r)
{
    struct daemon *d = r->d;
    if (!d->config_path) {
        log_msg(KLOG_INFO, NULL,
                "SIGHUP: running on the embedded defaults, nothing to reload");
        return;
    }
    struct config *cfg = NULL;
    struct config_errors errs = { 0 };
    if (config_load_file(d->config_path, &cfg, &errs) != 0) {
        log_errors(&errs);
        log_msg(KLOG_ERROR, NULL,
                "reload refused: %zu error%s in %s; still running the previous "
                "configuration",
                errs.n + errs.dropped, errs.n + errs.dropped == 1 ? "" : "s",
                d->config_path);
        config_errors_free(&errs);
        return;
    }
    config_errors_free(&errs);
    char err[256];
    if (menuload_start(r->ml, cfg->menus, cfg->menus_max_bytes, err, sizeof err) != 0) {
        log_msg(KLOG_ERROR, NULL, "reload refused: cannot load the menu set %s: %s; "
                "still running the previous configuration and menus", cfg->menus, err);
        config_free(cfg);
        return;
    }
    r->cfg = cfg;
    log_msg(KLOG_INFO, NULL, "reload: loading the menu set %s in the background; "
            "the previous menus serve meanwhile", cfg->menus);
}

/* menuload's done callback, on the loop: the reload's menu set landed. */
static void on_menus_landed(void *ud, struct menuload_result *res)
{
    struct reload *r = ud;
    struct daemon *d = r->d;
    struct config *cfg = r->cfg;
    r->cfg = NULL;
    if (res->set)
        log_msg(KLOG_INFO, NULL, "reload: menu set %s loaded in %" PRIu64 " ms "
                "(%zu bytes, %u nodes)", res->dir, res->ms, res->bytes,
                (unsigned)res->set->nnode);
    else
        log_msg(KLOG_INFO, NULL, "reload: menu set %s checked in %" PRIu64 " ms "
                "(%zu bytes): %zu error%s", res->dir, res->ms, res->bytes,
                res->errs.n + res->errs.dropped,
                res->errs.n + res->errs.dropped == 1 ? "" : "s");
    if (d->stopping) {
        log_msg(KLOG_INFO, NULL, "reload dropped: shutting down");
        config_free(cfg);
        return;
    }
    if (!res->set) {
        report_menu_errors(&res->errs, NULL);
        log_msg(KLOG_ERROR, NULL,
                "reload refused: the menu set %s has errors; still running the "
                "previous configuration and menus", res->dir);
        config_free(cfg);
    } else {
        struct menu_set *set = res->set;
        res->set = NULL;
        reload_apply(d, cfg, set);
        if (d->menus == set) {  /* issue 10 publish: the folder wins now */
            menuwatch_files(r->watch);
            r->pub.maker_checker = d->cfg->console_maker_checker;
        }
    }
    if (r->again) {
        r->again = false;
        log_msg(KLOG_INFO, NULL, "SIGHUP during the load: reloading once more");
        reload_start(r);
    }
}

/* Before the loop's objects go: wait for a load still running (its
 * thread uses none of them, but its result is dropped with it). */
static void reload_free(struct reload *r)
{
    menuwatch_free(r->watch);  /* issue 10 publish */
    r->watch = NULL;
    if (r->ml && menuload_busy(r->ml))
        log_msg(KLOG_INFO, NULL, "waiting for the menu load of %s to end "
                "(%" PRIu64 " ms so far)", r->cfg ? r->cfg->menus : "?",
                menuload_elapsed_ms(r->ml));
    menuload_free(r->ml);
    r->ml = NULL;
    config_free(r->cfg);
    r->cfg = NULL;
}

/* ---- signals ------------------------------------------------------------- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_msg(KLOG_WARN, NULL, "%d link(s) not closed after %d ms; exiting anyway",
            links_open(d), STOP_GRACE_MS);
    event_base_loopexit(d->base, NULL);
}

static const char *signame(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal";
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (d->stopping) {
        log_msg(KLOG_WARN, NULL, "%s again; exiting now", signame((int)sig));
        event_base_loopexit(d->base, NULL);
        return;
    }
    d->stopping = 1;
    log_msg(KLOG_INFO, NULL, "%s: unbinding %d link(s)", signame((int)sig),
            links_open(d));
    struct timeval grace = { STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000 };
    evtimer_add(d->ev_deadline, &grace);
    links_stop_all(d);
    links_check_all_closed(d);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct reload *r = arg;
    if (r->d->stopping)
        return;
    /* log rotation does not wait for a menu load: the same file reopens
     * now; a new log.file applies with the rest of the reload */
    char err[256];
    if (log_reopen(err, sizeof err) != 0)
        log_msg(KLOG_ERROR, NULL, "cannot reopen the log: %s", err);
    log_msg(KLOG_INFO, NULL, "SIGHUP: reloading");
    /* issue 13 tls-http: certificates are read again at once, from the
     * paths the listeners started with (each logs; a bad file keeps the
     * old certificate) */
    api_tls_reload(r->d->api);
    admin_tls_reload(r->d->admin);
    if (menuload_busy(r->ml)) {
        r->again = true;
        log_msg(KLOG_INFO, NULL, "SIGHUP: the menu load started %" PRIu64 " ms ago "
                "is still running; one more reload follows when it lands",
                menuload_elapsed_ms(r->ml));
        return;
    }
    reload_start(r);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *fp, const char *prog)
{
    fprintf(fp,
"Usage: %s [-c FILE] [options]\n"
"\n"
"kyzmatd is an SMS/USSD gateway: it binds to one or more SMSCs over SMPP 3.4\n"
"as an ESME and runs USSD menus and SMS for them.\n"
"\n"
"Options:\n"
"  -c, --config FILE    read the configuration from FILE (YAML).  Without -c\n"
"                       the embedded defaults are used: one SMSC \"sim\" at\n"
"                       127.0.0.1:2775, system_id kyzmat, password secret\n"
"                       (what kyzmat-smsc accepts out of the box).\n"
"      --check          check the configuration, print \"configuration ok\"\n"
"                       or every error as file:line:column, and exit 0 or 1\n"
"      --pidfile FILE   write the process id to FILE while running\n"
"      --create-token AGENCY\n"
"                       create an HTTP API token for the agency with that\n"
"                       code (created if new) in the configured database,\n"
"                       print it once and exit; only its SHA-256 is kept\n"
"      --scopes LIST    with --create-token: messages,applications,offices,\n"
"                       slots,templates (comma-separated) or * (the default),\n"
"                       and law_required (messages and notices to numbers\n"
"                       that sent STOP), which * does not include\n"
"      --create-admin NAME\n"
"                       create an admin account for the operators' console\n"
"                       in the configured database: the password is asked\n"
"                       twice (echo off), or read as one line from stdin\n"
"                       when that is not a terminal; at least 10 characters\n"
"      --random-password  with --create-admin: generate the password and\n"
"                       print it once\n"
"  -v, --verbose        log at debug level (overrides log.level)\n"
"      --help-config    list every configuration key with its default\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Signals:\n"
"  SIGHUP               reopen the log file and reload the configuration;\n"
"                       a file with errors is refused and the old one kept;\n"
"                       HTTPS certificates are read again (a bad one is\n"
"                       refused and the old one kept)\n"
"  SIGTERM, SIGINT      unbind every link and exit (at most 3 s)\n"
"\n"
"Examples:\n"
"  %s                   run on the embedded defaults\n"
"  %s -c /etc/kyzmat/kyzmat.yaml --check\n"
"  %s -c /etc/kyzmat/kyzmat.yaml -v\n"
"  kill -HUP $(cat /run/kyzmatd.pid)        reload after editing the file\n"
"\n"
"A commented sample configuration is scripts/kyzmat.yaml in the source tree\n"
"(copy it to /etc/kyzmat/kyzmat.yaml); a sample systemd unit is\n"
"scripts/kyzmatd.service.  Exit status: 0 ok, 1 configuration or start-up\n"
"error, 2 bad command line.\n",
            prog, prog, prog, prog);
}

struct options {
    const char *config;
    const char *pidfile;
    const char *create_token;   /* agency code */
    const char *scopes;         /* for --create-token; NULL = all */
    const char *create_admin;   /* issue 10 console: account name */
    int random_password;        /* with --create-admin */
    int check, verbose, help, version, help_config;
};

/* Returns 0, or 2 (usage error, already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { O_CHECK = 1000, O_HELP_CONFIG, O_PIDFILE, O_CREATE_TOKEN, O_SCOPES,
           O_CREATE_ADMIN, O_RANDOM_PASSWORD };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, O_CHECK },
        { "pidfile", required_argument, NULL, O_PIDFILE },
        { "create-token", required_argument, NULL, O_CREATE_TOKEN },
        { "scopes", required_argument, NULL, O_SCOPES },
        { "create-admin", required_argument, NULL, O_CREATE_ADMIN },
        { "random-password", no_argument, NULL, O_RANDOM_PASSWORD },
        { "verbose", no_argument, NULL, 'v' },
        { "help-config", no_argument, NULL, O_HELP_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    int c;
    while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case O_CHECK:
            o->check = 1;
            break;
        case O_PIDFILE:
            o->pidfile = optarg;
            break;
        case O_CREATE_TOKEN:
            o->create_token = optarg;
            break;
        case O_SCOPES:
            o->scopes = optarg;
            break;
        case O_CREATE_ADMIN:
            o->create_admin = optarg;
            break;
        case O_RANDOM_PASSWORD:
            o->random_password = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case O_HELP_CONFIG:
            o->help_config = 1;
            break;
        case 'h':
            o->help = 1;
            break;
        case 'V':
            o->version = 1;
            break;
        default:
            fprintf(stderr, "Try '%s --help'.\n", argv[0]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n",
                argv[0], argv[optind], argv[0]);
        return 2;
    }
    if (o->random_password && !o->create_admin) {
        fprintf(stderr, "%s: --random-password goes with --create-admin NAME\n",
                argv[0]);
        return 2;
    }
    return 0;
}

static int write_pidfile(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    close(fd);
    return w == n ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------- */

static void daemon_free(struct daemon *d)
{
    /* the loop is over: commit its last pass, so what waits for it is
     * answered (202s, receipts, keyword MOs, screens) while links live */
    store_flush(d->db);
    links_free_all(d);
    emulator_free(d->emulator);   /* issue 10 console-ws: answers its waiting
                                   * console requests before the console goes */
    d->emulator = NULL;
    admin_free(d->admin);
    d->admin = NULL;
    console_menus_free(d->console_menus);   /* issue 10 console-ws */
    d->console_menus = NULL;
    api_free(d->api);
    d->api = NULL;
    reminders_free(d->reminders);
    d->reminders = NULL;
    outbox_free(d->outbox);
    d->outbox = NULL;
    ussd_free(d->ussd);
    d->ussd = NULL;
    fetch_free(d->fetch);
    d->fetch = NULL;
    dialogs_free(d->store);
    d->store = NULL;
    menu_set_unref(d->menus);
    d->menus = NULL;
    store_close(d->db);
    d->db = NULL;
    struct event **evs[] = { &d->ev_term, &d->ev_int, &d->ev_hup,
                             &d->ev_deadline, &d->ev_gate };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (*evs[i])
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
    config_free(d->cfg);
    d->cfg = NULL;
    kz_metrics_free(d->metrics);   /* after every module that counts */
    d->metrics = NULL;
    if (d->base)
        event_base_free(d->base);
    d->base = NULL;
}

/* --help, --version, --help-config: print, and return the exit status;
 * -1 when none of them was asked for. */
static int print_info(const struct options *o, const char *prog)
{
    if (o->help) {
        usage(stdout, prog);
        return 0;
    }
    if (o->version) {
        printf("kyzmatd %s\n", KYZMAT_VERSION);
        return 0;
    }
    if (o->help_config) {
        config_print_help(stdout);
        return 0;
    }
    return -1;
}

/* The configuration for start-up into d->cfg; every error on stderr.
 * Returns 0, or 1 (the exit status) when it cannot be used. */
static int startup_config(struct daemon *d, const char *prog)
{
    struct config_errors errs = { 0 };
    if (load_config(d->config_path, &d->cfg, &errs) != 0) {
        print_errors(stderr, &errs);
        if (!errs.n && !errs.dropped)
            fprintf(stderr, "%s: out of memory\n", prog);
        fprintf(stderr, "%s: %zu error%s in the configuration; not starting\n",
                prog, errs.n + errs.dropped, errs.n + errs.dropped == 1 ? "" : "s");
        config_errors_free(&errs);
        return 1;
    }
    config_errors_free(&errs);
    return 0;
}

/* --create-token AGENCY: print a new token and return the exit status.
 * Frees d->cfg. */
static int create_token(struct daemon *d, const struct options *o, const char *prog)
{
    char err[256], tok[API_TOKEN_LEN];
    struct store *st = open_db(d->cfg, err, sizeof err);
    int trc = st ? api_token_create(st, o->create_token, o->scopes, tok, sizeof tok,
                                    err, sizeof err)
                 : -1;
    if (trc == STORE_OK) {
        /* issue 10 console: audited like every token creation (the token
         * itself never: its agency and scopes, which api_token_create
         * accepted as known names only, so they need no JSON escaping) */
        char detail[STORE_SCOPES_MAX + 64];
        snprintf(detail, sizeof detail, "{\"scopes\":\"%s\"}",
                 o->scopes ? o->scopes : "*");
        if (console_audit_cli(st, "token.create", o->create_token, detail) !=
                STORE_OK ||
            store_flush(st) != STORE_OK)
            fprintf(stderr, "%s: the token was made, but its audit row was "
                    "not written: %s\n", prog, store_errmsg(st));
    }
    store_close(st);
    config_free(d->cfg);
    d->cfg = NULL;
    if (trc != STORE_OK) {
        fprintf(stderr, "%s: cannot create a token: %s\n", prog, err);
        return 1;
    }
    printf("%s\n", tok);
    return 0;
}

/* issue 10 console: --create-admin NAME.  Frees d->cfg. */
static int create_admin(struct daemon *d, const struct options *o,
                        const char *prog)
{
    char err[256];
    struct store *st = open_db(d->cfg, err, sizeof err);
    config_free(d->cfg);
    d->cfg = NULL;
    if (!st) {
        fprintf(stderr, "%s: cannot open the database: %s\n", prog, err);
        return 1;
    }
    int rc = console_create_admin(st, o->create_admin, o->random_password,
                                  stdin, stdout, stderr);
    store_close(st);
    return rc;
}

/* The event loop, the signal events and the reload's menu loader.
 * Returns 0, or -1 (on stderr). */
static int open_loop(struct daemon *d, struct reload *r, const char *prog)
{
    /* epoll changelist: bufferevents and evhttp switch a socket's write
     * interest on and off around every flush; the changelist folds the
     * changes of one loop pass into at most one epoll_ctl per socket
     * (measured: ~3.5 epoll_ctl calls per USSD step without it).  kyzmatd
     * never dup()s a watched descriptor, the case libevent warns about. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!d->base)
        d->base = event_base_new();
    if (!d->base) {
        fprintf(stderr, "%s: cannot create the event loop\n", prog);
        return -1;
    }
    d->metrics = kz_metrics_new();
    if (!d->metrics) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    const struct {
        struct event **ev;
        int sig;
        event_callback_fn fn;
        void *arg;
    } sigs[] = {
        { &d->ev_term, SIGTERM, on_stop_signal, d },
        { &d->ev_int, SIGINT, on_stop_signal, d },
        { &d->ev_hup, SIGHUP, on_hup, r },
    };
    d->ev_deadline = evtimer_new(d->base, on_deadline, d);
    bool ok = d->ev_deadline != NULL;
    for (size_t i = 0; ok && i < sizeof sigs / sizeof sigs[0]; i++) {
        *sigs[i].ev = evsignal_new(d->base, sigs[i].sig, sigs[i].fn, sigs[i].arg);
        ok = *sigs[i].ev && evsignal_add(*sigs[i].ev, NULL) == 0;
    }
    if (!ok) {
        fprintf(stderr, "%s: cannot set up signal handling\n", prog);
        return -1;
    }
    r->ml = menuload_new(d->base, on_menus_landed, r);
    if (!r->ml) {
        fprintf(stderr, "%s: cannot set up the menu loader\n", prog);
        return -1;
    }
    return 0;
}

/* The menu set's name in metrics: the last part of its folder's path
 * ("/etc/kyzmat/menus/" -> "menus"), never empty. */
static const char *menu_set_name(const char *dir, char *buf, size_t len)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    snprintf(buf, len, "%.*s", (int)(n - b), dir + b);
    if (buf[0] == '\0')
        snprintf(buf, len, "menus");
    return buf;
}

/* The USSD side: the dialog store, fetch and the USSD service.  Returns 0,
 * or -1 (logged). */
static int start_ussd(struct daemon *d)
{
    char serr[256] = "", set_name[128];
    struct dialogs_opts dopts;
    memset(&dopts, 0, sizeof dopts);
    dopts.on_state = on_store_state;
    dopts.state_arg = d;
    struct sentinel_addr sent[SENTINEL_MAX];
    if (d->cfg->redis_sentinel_count) {
        int n = sentinel_parse_list(d->cfg->redis_sentinels, d->cfg->redis_sentinel_count,
                                    sent, serr, sizeof serr);
        if (n < 0) {
            log_msg(KLOG_ERROR, NULL, "not starting: redis.sentinels: %s", serr);
            return -1;
        }
        dopts.sentinels = sent;
        dopts.nsentinels = (size_t)n;
        dopts.master = d->cfg->redis_master;
    }
    d->store = dialogs_new(d->base, d->cfg->redis_url, &dopts, serr, sizeof serr);
    struct fetch_opts fopts = { .allow = d->cfg->callbacks_allow,
                                .allow_n = d->cfg->callbacks_allow_count,
                                .xroad = &d->cfg->xroad /* issue 13 xroad */ };
    d->fetch = fetch_new(d->base, &fopts);
    if (d->fetch)
        fetch_metrics(d->fetch, d->metrics);
    const struct xroad_conf *xr = &d->cfg->xroad;   /* issue 13 xroad */
    if (d->fetch && xr->security_server && *xr->security_server)
        log_msg(KLOG_INFO, NULL, "X-Road: back-end calls through %s as %s (%s)",
                xr->security_server, xr->client,
                xr->cert && *xr->cert ? "client certificate" : "no client certificate");
    struct ussd_ops uops = { .send = ussd_send, .outbox_kick = ussd_outbox_kick,
                             .ud = d };
    d->ussd = d->store && d->fetch ? ussd_new(d->base, d->store, d->fetch, d->menus, &uops)
                                   : NULL;
    if (!d->ussd) {
        log_msg(KLOG_ERROR, NULL, "not starting: dialog store: %s",
                serr[0] ? serr : "out of memory");
        return -1;
    }
    if (ussd_metrics(d->ussd, d->metrics, menu_set_name(d->cfg->menus, set_name,
                                                       sizeof set_name),
                     serr, sizeof serr) != 0) {
        log_msg(KLOG_ERROR, NULL, "not starting: USSD metrics: %s", serr);
        return -1;
    }
    log_msg(KLOG_INFO, NULL, "menus %s (%u nodes); USSD dialogs in %s",
            d->cfg->menus, (unsigned)d->menus->nnode, dialogs_describe(d->store));
    return 0;
}

/* issue 12 appeals: the limit and counts the USSD node, the SMS words and
 * the API share, the SMS words from the config, the counters on /metrics.
 * Returns 0, or -1 (logged). */
static int start_appeals(struct daemon *d)
{
    const struct config *c = d->cfg;
    d->appeals = (struct appeals_opts){ .per_day = c->appeals_per_day,
                                        .stats = &d->appeal_stats };
    ussd_set_appeals(d->ussd, &d->appeals);
    static const char *const builtin[] = { "ky:КАЙРЫЛУУ", "ru:ОБРАЩЕНИЕ",
                                           "en:APPEAL" };
    const char *const *words = c->appeals_keywords_count
                                   ? (const char *const *)c->appeals_keywords
                                   : builtin;
    size_t nw = c->appeals_keywords_count ? c->appeals_keywords_count : 3;
    size_t n = 0;
    char why[200];
    for (size_t i = 0; i < nw && n < APPEALS_KW_MAX; i++)
        if (appeals_kw_item(words[i], strlen(words[i]), &d->appeal_words[n],
                            why, sizeof why) == 0)
            n++;
    const char *cat = c->appeals_sms_category ? c->appeals_sms_category : "";
    if (*cat && appeals_category_item(cat, strlen(cat), d->appeal_agency,
                                      d->appeal_category) != 0)
        d->appeal_agency[0] = d->appeal_category[0] = '\0';
    kw_appeals_init(&d->kw_appeals, d->appeal_words, n, d->appeal_agency,
                    d->appeal_category, &d->appeals);
    d->kw.appeals = &d->kw_appeals;
    char err[200];
    if (appeals_metrics(&d->appeal_stats, d->metrics, err, sizeof err) != 0) {
        log_msg(KLOG_ERROR, NULL, "not starting: appeals metrics: %s", err);
        return -1;
    }
    log_msg(KLOG_INFO, NULL, "appeals: %u per phone a day; %zu SMS words%s%s",
            d->appeals.per_day, n, d->appeal_agency[0] ? ", by SMS into " : "",
            d->appeal_agency[0] ? cat : "");
    return 0;
}

/* The SMS side: the database, the outbox and the reminders.  Returns 0, or
 * -1 (logged). */
static int start_sms(struct daemon *d)
{
    char derr[256] = "";
    d->db = open_db(d->cfg, derr, sizeof derr);
    if (d->db && store_attach(d->db, d->base) != STORE_OK) {   /* one commit a pass */
        store_close(d->db);
        d->db = NULL;
        snprintf(derr, sizeof derr, "out of memory");
    }
    if (d->db)
        ussd_set_store(d->ussd, d->db);   /* the menus' status node reads it */
    if (d->db && start_appeals(d) != 0)   /* issue 12 appeals */
        return -1;
    if (!d->db) {
        log_msg(KLOG_ERROR, NULL, "not starting: database %s: %s", d->cfg->db_path, derr);
        return -1;
    }
    /* This process is the database's only user: what a dead predecessor had
     * on the links goes out again at once rather than after its lease. */
    store_outbox_recover(d->db, INT64_MAX, NULL);
    struct outbox_links olinks = { .route = outbox_route_cb, .room = outbox_room_cb,
                                   .ud = d, .answer = outbox_answer_cb,
                                   .route_via = outbox_route_via_cb };
    struct outbox_opts oopts;
    memset(&oopts, 0, sizeof oopts);
    oopts.from = "kyzmat";
    oopts.fetch = d->fetch;
    d->outbox = outbox_new(d->base, d->db, &olinks, &oopts);
    char merr[160] = "";
    if (!d->outbox) {
        log_msg(KLOG_ERROR, NULL, "not starting: cannot start the SMS sender");
        return -1;
    }
    if (outbox_metrics(d->outbox, d->metrics, merr, sizeof merr) != 0) {
        log_msg(KLOG_ERROR, NULL, "not starting: outbox metrics: %s", merr);
        return -1;
    }
    struct reminders_opts ropts;
    reminders_opts_from(d->cfg, d->menus, &ropts);
    d->reminders = reminders_new(d->base, d->db, d->outbox, &ropts);
    if (!d->reminders) {
        log_msg(KLOG_ERROR, NULL, "not starting: cannot start the reminder timer");
        return -1;
    }
    return 0;
}

/* A service code as its digits and inner stars: "*100*5#" and "100*5"
 * -> "100*5" (n bytes at *s). */
static const char *code_core(const char *c, size_t *n)
{
    if (*c == '*')
        c++;
    size_t len = strlen(c);
    if (len && c[len - 1] == '#')
        len--;
    *n = len;
    return c;
}

static bool code_same(const char *a, const char *b)
{
    size_t na, nb;
    const char *ca = code_core(a, &na), *cb = code_core(b, &nb);
    return na == nb && na > 0 && memcmp(ca, cb, na) == 0;
}

/* api_opts.notice_from_ok (ud: the daemon): from is a code the menu set in
 * use serves or ussd.notice_from names (both as loaded now, so a reload
 * applies at once), written with or without its * and #. */
static bool notice_from_ok(void *ud, const char *from)
{
    const struct daemon *d = ud;
    for (uint16_t i = 0; d->menus && i < d->menus->ncode; i++)
        if (code_same(d->menus->code[i].code, from))
            return true;
    for (size_t i = 0; i < d->cfg->ussd_notice_from_count; i++)
        if (code_same(d->cfg->ussd_notice_from[i], from))
            return true;
    return false;
}

/* The agencies' HTTP API.  Returns 0, or -1 (logged). */
static int start_api(struct daemon *d)
{
    char derr[256] = "";
    struct api_opts aopts;
    memset(&aopts, 0, sizeof aopts);
    aopts.listen = d->cfg->http_listen;
    aopts.max_body = d->cfg->http_max_body;
    aopts.head_timeout_ms = d->cfg->http_head_timeout_ms;
    aopts.max_connections = d->cfg->http_max_connections;
    aopts.ussd_notice = api_ussd_notice;
    aopts.notice_from_ok = notice_from_ok;
    aopts.notices_per_hour = d->cfg->ussd_notices_per_hour;
    aopts.ussd_ud = d;
    aopts.route = outbox_route_cb;   /* part counts by the route's link */
    aopts.route_ud = d;
    aopts.callback_allow = d->cfg->callbacks_allow;
    aopts.callback_allow_n = d->cfg->callbacks_allow_count;
    aopts.xroad = d->cfg->xroad.security_server && d->cfg->xroad.security_server[0];
    aopts.tls_cert = d->cfg->http_tls_cert;     /* issue 13 tls-http */
    aopts.tls_key = d->cfg->http_tls_key;
    aopts.tls_client_ca = d->cfg->http_tls_client_ca;
    aopts.insecure_plain = d->cfg->http_insecure_plain;
    aopts.edge_metrics = d->metrics;
    aopts.xroad_ss_cert = d->cfg->http_xroad_ss_cert;
    aopts.xroad_members = d->cfg->http_xroad_members;
    aopts.xroad_members_n = d->cfg->http_xroad_members_count;
    aopts.appeal_stats = &d->appeal_stats;       /* issue 12 appeals */
    d->api = api_new(d->base, d->db, &aopts, derr, sizeof derr);
    if (!d->api) {
        log_msg(KLOG_ERROR, NULL, "not starting: HTTP API on %s: %s",
                d->cfg->http_listen, derr);
        return -1;
    }
    if (api_metrics(d->api, d->metrics, derr, sizeof derr) != 0) {
        log_msg(KLOG_ERROR, NULL, "not starting: API metrics: %s", derr);
        return -1;
    }
    char host[300];
    snprintf(host, sizeof host, "%s", d->cfg->http_listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    log_msg(KLOG_INFO, NULL, "HTTP API on %s:%d; database %s", host,
            api_port(d->api), d->cfg->db_path);
    return 0;
}

/* ---- the admin listener's view of the daemon (gateway/admin) ---------- */

static size_t admin_ready(void *ud, char (*what)[ADMIN_WHAT_MAX], size_t max)
{
    struct daemon *d = ud;
    size_t n = 0;
    if (d->stopping && n < max)
        snprintf(what[n++], ADMIN_WHAT_MAX, "stopping");
    n += links_unbound(d, what + n, max - n);
    if ((d->cfg->redis_url[0] || d->cfg->redis_sentinel_count) &&
        dialogs_state(d->store) != DIALOGS_UP && n < max)
        snprintf(what[n++], ADMIN_WHAT_MAX, "redis");
    if (store_schema_version(d->db) < 0 && n < max)
        snprintf(what[n++], ADMIN_WHAT_MAX, "database");
    return n;
}

static int admin_redis_up(void *ud)
{
    struct daemon *d = ud;
    return d->cfg->redis_url[0] || d->cfg->redis_sentinel_count
               ? dialogs_state(d->store) == DIALOGS_UP : -1;
}

static int admin_db_up(void *ud)
{
    return store_schema_version(((struct daemon *)ud)->db) >= 0;
}

/* issue 10 console-ws: the console's menu rooms and the phone emulator
 * (its http nodes through d->fetch; the live set is d->menus). */
static struct menu_set *console_live_set(void *ud)
{
    return ((struct daemon *)ud)->menus;
}

static const char *console_live_dir(void *ud)
{
    return ((struct daemon *)ud)->cfg->menus;
}

static int start_console_menus(struct daemon *d)
{
    struct console *c = admin_console(d->admin);
    if (!c)
        return 0;
    d->emulator = emulator_new(64, 600000, d->fetch);
    struct console_menus_opts mo = { .em = d->emulator, .live = console_live_set,
                                     .live_dir = console_live_dir, .ud = d };
    d->console_menus = d->emulator ? console_menus_new(c, &mo) : NULL;
    if (!d->console_menus) {
        log_msg(KLOG_ERROR, NULL, "not starting: console menu rooms: out of memory");
        return -1;
    }
    return 0;
}

/* The operators' listener, when admin.listen names one.  0, or -1
 * (logged). */
static int start_admin(struct daemon *d)
{
    if (!d->cfg->admin_listen[0])
        return 0;
    /* issue 10 console */
    struct console_opts co = {
        .store = d->db, .dir = d->cfg->console_dir,
        .idle_ms = d->cfg->console_idle_ms, .max_ms = d->cfg->console_max_ms,
        .login_max = d->cfg->console_login_max,
        .login_window_ms = d->cfg->console_login_window_ms,
    };
    struct admin_opts o = {
        .listen = d->cfg->admin_listen,
        .max_connections = d->cfg->admin_max_connections,
        .head_timeout_ms = d->cfg->http_head_timeout_ms,
        .metrics = d->metrics, .ready = admin_ready,
        .redis_up = admin_redis_up, .db_up = admin_db_up, .ud = d,
        /* issue 13 tls-http */
        .tls_cert = d->cfg->admin_tls_cert, .tls_key = d->cfg->admin_tls_key,
        .tls_client_ca = d->cfg->admin_tls_client_ca,
        .insecure_plain = d->cfg->admin_insecure_plain,
        .version = KYZMAT_VERSION, .console = &co,
    };
    char err[256] = "";
    d->admin = admin_new(d->base, &o, err, sizeof err);
    if (!d->admin) {
        log_msg(KLOG_ERROR, NULL, "not starting: admin listener: %s", err);
        return -1;
    }
    return start_console_menus(d);
}

/* One link per smsc entry; they bind once the dialog store is up, or after
 * 3 s.  Returns 0, or -1 (logged). */
static int start_links_gated(struct daemon *d)
{
    for (size_t i = 0; i < d->cfg->smsc_count; i++) {
        if (!link_new(d, &d->cfg->smsc[i])) {
            log_msg(KLOG_ERROR, NULL, "not starting: link %s failed",
                    d->cfg->smsc[i].name);
            return -1;
        }
    }
    if (dialogs_state(d->store) == DIALOGS_UP) {
        start_links(d);
    } else {
        struct timeval gate = { 3, 0 };
        d->ev_gate = evtimer_new(d->base, on_gate, d);
        if (!d->ev_gate || evtimer_add(d->ev_gate, &gate) != 0)
            start_links(d);
    }
    return 0;
}

/* ---- issue 10 publish: every node follows the live menu version ----- */

/* menuwatch's apply: the live version's set, swapped in like a reload's
 * (new dialogs get it; dialogs in flight keep theirs). */
static void watch_apply(void *ud, struct menu_set *set, int64_t version)
{
    (void)version;
    struct daemon *d = ud;
    ussd_set_menus(d->ussd, set);
    menu_set_unref(d->menus);
    d->menus = set;
    struct reminders_opts ro;
    reminders_opts_from(d->cfg, d->menus, &ro);
    reminders_set_opts(d->reminders, &ro);
}

static void watch_kick(void *ud)
{
    menuwatch_kick(((struct reload *)ud)->watch);
}

/* The version watcher and the console's publish routes.  0, or -1
 * (logged).  The node's name: admin.console.node, else HOST:PORT of the
 * HTTP API. */
static int start_publish(struct daemon *d, struct reload *r)
{
    char node[STORE_NODE_NAME_MAX], host[64] = "localhost";
    if (d->cfg->console_node[0]) {
        snprintf(node, sizeof node, "%s", d->cfg->console_node);
    } else {
        gethostname(host, sizeof host - 1);
        snprintf(node, sizeof node, "%s:%d", host, api_port(d->api));
    }
    struct menuwatch_opts wo = {
        .db = d->db, .node = node, .every_ms = d->cfg->console_version_check_ms,
        .max_bytes = d->cfg->menus_max_bytes, .apply = watch_apply, .ud = d,
    };
    r->watch = menuwatch_new(d->base, &wo);
    r->pub = (struct console_publish_opts){
        .maker_checker = d->cfg->console_maker_checker, .went_live = watch_kick,
        .ud = r,
    };
    struct console *c = d->admin ? admin_console(d->admin) : NULL;
    if (!r->watch || (c && console_publish_routes(c, &r->pub) != 0)) {
        log_msg(KLOG_ERROR, NULL, "not starting: menu versions: out of memory "
                "or too many console routes");
        return -1;
    }
    log_msg(KLOG_INFO, NULL, "node %s follows the console's live menu version "
            "(checked every %u ms)%s", node, d->cfg->console_version_check_ms,
            d->cfg->console_maker_checker ? "; maker-checker on" : "");
    return 0;
}

/* Everything between the log and the loop.  Returns 0, or -1 (logged). */
static int start_daemon(struct daemon *d, const struct options *o)
{
    log_msg(KLOG_INFO, NULL, "kyzmatd %s starting: %s, %zu smsc", KYZMAT_VERSION,
            o->config ? o->config : "embedded defaults", d->cfg->smsc_count);
    if (start_ussd(d) != 0 || start_sms(d) != 0 || start_api(d) != 0 ||
        start_admin(d) != 0 || start_links_gated(d) != 0)
        return -1;
    if (o->pidfile && write_pidfile(o->pidfile) != 0) {
        log_msg(KLOG_ERROR, NULL, "cannot write pid file %s: %s", o->pidfile,
                strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    if ((rc = print_info(&o, argv[0])) >= 0)
        return rc;

    struct daemon d;
    memset(&d, 0, sizeof d);
    LIST_INIT(&d.links);
    LIST_INIT(&d.retiring);
    d.config_path = o.config;
    d.verbose = o.verbose;
    if (startup_config(&d, argv[0]) != 0)
        return 1;
    if (o.create_token)
        return create_token(&d, &o, argv[0]);
    if (o.create_admin)
        return create_admin(&d, &o, argv[0]);
    d.menus = load_menus(d.cfg, stderr);
    if (!d.menus) {
        fprintf(stderr, "%s: the menu set %s has errors; not starting\n", argv[0],
                d.cfg->menus);
        config_free(d.cfg);
        return 1;
    }
    if (o.check) {
        printf("configuration ok: %zu smsc%s; menus ok: %s (%u nodes)\n",
               d.cfg->smsc_count, o.config ? "" : " (embedded defaults)",
               d.cfg->menus, (unsigned)d.menus->nnode);
        menu_set_unref(d.menus);
        config_free(d.cfg);
        return 0;
    }

    log_set_level(d.verbose ? KLOG_DEBUG : d.cfg->log_level);
    char lerr[256];
    if (log_open(d.cfg->log_file, lerr, sizeof lerr) != 0) {
        /* refuse to start without the log that was asked for */
        fprintf(stderr, "%s: cannot open the log file: %s\n", argv[0], lerr);
        menu_set_unref(d.menus);
        config_free(d.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct reload r = { .d = &d };
    if (open_loop(&d, &r, argv[0]) != 0 || start_daemon(&d, &o) != 0 ||
        start_publish(&d, &r) != 0) {   /* issue 10 publish */
        reload_free(&r);
        daemon_free(&d);
        log_close();
        return 1;
    }

    event_base_dispatch(d.base);

    reload_free(&r);
    log_msg(KLOG_INFO, NULL, "kyzmatd stopped");
    daemon_free(&d);
    fetch_global_cleanup();
    if (o.pidfile)
        unlink(o.pidfile);
    log_close();
    return 0;
}

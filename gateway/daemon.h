/*
 * gateway/daemon.h — kyzmatd's one context: what the composition root
 * (gateway/main.c) builds and the link registry (gateway/links) and the MO
 * router (gateway/mo) work on.
 *
 * What it is: one struct daemon per process, made and freed by main.c, with
 * the modules it composed (config, menus, dialog store, fetch, USSD
 * service, database, outbox, reminders, API) and the two link lists the
 * registry keeps.  It is not a header for the rest of the gateway: only
 * main.c, links.c and mo.c include it; every other module gets what it
 * needs through its own ops struct (ussd_ops, outbox_links, api_opts),
 * whose adapters live with the concern they serve (links.c for the links,
 * main.c for the wiring between modules).
 *
 * Ownership: main.c owns the struct and every module in it (it creates
 * them in main() and frees them in daemon_free); links.c owns the links on
 * the two lists and their esmes (one owner: the list a link is on).  Fields
 * are read from loop callbacks only (one thread).
 * May call: nothing (types only).
 */
#ifndef KYZMAT_GATEWAY_DAEMON_H
#define KYZMAT_GATEWAY_DAEMON_H

#include <sys/queue.h>

#include "gateway/keywords.h"    /* issue 12 appeals: struct kw_opts */

#ifndef KYZMAT_VERSION
#define KYZMAT_VERSION "0.1.0"
#endif

/* A link being stopped (SIGTERM, reload) gets this long to unbind. */
#define STOP_GRACE_MS 3000

struct admin;
struct api;
struct config;
struct console_menus;
struct dialogs;
struct emulator;
struct event;
struct event_base;
struct fetch;
struct kz_metrics;
struct link;
struct menu_set;
struct outbox;
struct reminders;
struct store;
struct ussd_service;

LIST_HEAD(link_list, link);

struct daemon {
    struct event_base *base;
    struct config *cfg;
    const char *config_path;    /* NULL: embedded defaults */
    int verbose;
    struct link_list links;     /* active links, one per cfg->smsc entry */
    struct link_list retiring;  /* stopped on reload, not yet freed */
    struct event *ev_term, *ev_int, *ev_hup, *ev_deadline;
    struct menu_set *menus;     /* the menu set in use (one reference) */
    struct dialogs *store;      /* USSD dialogs: Redis or in process */
    struct fetch *fetch;        /* back-end and app calls */
    struct ussd_service *ussd;
    struct store *db;           /* SQLite: outbox, applications, bookings */
    struct api *api;            /* the agencies' HTTP API */
    struct admin *admin;        /* /metrics, /healthz, /readyz (or NULL) */
    struct emulator *emulator;  /* issue 10 console-ws: the phone emulator */
    struct console_menus *console_menus; /* issue 10 console-ws: menu rooms */
    struct outbox *outbox;      /* drains the SMS outbox onto the links */
    struct reminders *reminders;/* the day-before booking reminder SMS */
    struct kz_metrics *metrics; /* every module's series (base/metrics) */
    int links_started;          /* links bind only once the dialog store
                                 * is up (or 3 s have passed), so the first
                                 * dials are not told "unavailable" */
    struct event *ev_gate;
    /* issue 12 appeals: counts (for /metrics), the limit, and the SMS words
     * with the keywords' options mo.c passes (from the config, at start) */
    struct appeals_stats appeal_stats;
    struct appeals_opts appeals;
    struct appeals_kw appeal_words[APPEALS_KW_MAX];
    struct kw_appeals kw_appeals;
    char appeal_agency[STORE_CODE_MAX], appeal_category[STORE_CODE_MAX];
    struct kw_opts kw;
    int stopping;               /* SIGTERM/SIGINT seen: links unbinding */
    int exiting;                /* loopexit requested */
};

#endif

/*
 * base/xroad.h — the pure pieces of X-Road's message protocol for REST
 * (PR-REST, r1), as Tunduk uses it: identifiers, the service path, the
 * rendered call a menu hands the gateway, the X-Road-Id UUID and the
 * request headers.
 *
 * Why in base/: the menu loader (menus/) checks identifiers and bakes the
 * service path into a node's call at load time, the config (gateway/)
 * checks our client identifier and gateway/fetch sends the call; base/ is
 * the one folder all three may include.  Nothing here does I/O (the 16
 * random bytes of an X-Road-Id come from the caller) or allocates.
 *
 * Identifiers: a client is INSTANCE/CLASS/MEMBER/SUBSYSTEM (4 parts), a
 * service INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE (5 parts); Tunduk
 * registers services and clients under subsystems, so the subsystem is
 * required here although PR-REST lets it out.  A part is 1..XROAD_PART_MAX
 * bytes of UTF-8 without control characters and without '/' (the
 * separator); on the wire each part is percent-encoded on its own
 * (RFC 3986: A-Z a-z 0-9 - . _ ~ stay, every other byte is %XX), the '/'
 * between parts is not.
 *
 * The menu call: a menu node's `xroad:` block becomes the url template
 * "xroad:/r1/<service parts>/<path>#<issue>" (XROAD_SCHEME); the step
 * engine renders it like any url (dialog values percent-encoded) and
 * gateway/fetch splits the rendered text with xroad_call_split.
 *
 * Owns: nothing (all buffers are the caller's).  Re-entrant.
 * May call: base/utf8, base/base64 (hex digits), libc.
 */
#ifndef KYZMAT_BASE_XROAD_H
#define KYZMAT_BASE_XROAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XROAD_PART_MAX    255   /* bytes of one identifier part */
#define XROAD_CLIENT_PARTS 4
#define XROAD_SERVICE_PARTS 5
#define XROAD_ISSUE_MAX   255   /* bytes of X-Road-Issue / X-Road-UserId */
#define XROAD_UUID_LEN    36    /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
#define XROAD_SCHEME      "xroad:"
#define XROAD_PROTOCOL    "/r1"

/* The settings of one client of a security server (kyzmatd's `xroad:`
 * block); plain strings, "" or NULL for an optional one left out. */
struct xroad_conf {
    char *security_server;      /* "https://ss.example:8443" ("" = none) */
    char *client;               /* INSTANCE/CLASS/MEMBER/SUBSYSTEM */
    char *ca;                   /* PEM file to check the security server with */
    char *cert, *key;           /* our client certificate and key (PEM) */
    char *user_id;              /* X-Road-UserId on every call, or "" */
};

/* An identifier split into its parts (pointers into the caller's text). */
struct xroad_id {
    size_t n;
    const char *part[XROAD_SERVICE_PARTS];
    size_t len[XROAD_SERVICE_PARTS];
};

/*
 * xroad_id_parse — split s[0..len) at '/' into exactly `want` parts
 * (XROAD_CLIENT_PARTS or XROAD_SERVICE_PARTS).  0 on success; -1 with a
 * reason in err (may be NULL) and *at (may be NULL) the byte offset where
 * the fault is: the wrong number of parts, an empty part, a part over
 * XROAD_PART_MAX bytes, invalid UTF-8 or a control character.
 */
int xroad_id_parse(const char *s, size_t len, size_t want, struct xroad_id *out,
                   size_t *at, char *err, size_t errlen);

/*
 * xroad_id_encode — the parts percent-encoded one by one and joined by '/'
 * ("KG/GOV/70000003/kyzmat"), NUL-terminated into out[cap]; with `path`,
 * prefixed with "/r1/" (the service path of PR-REST 4.1).  Returns the
 * length, or -1 when it does not fit (out then holds "").
 */
long xroad_id_encode(const struct xroad_id *id, bool path, char *out, size_t cap);

/*
 * xroad_callback_url — an agency's callback_url naming an X-Road service,
 * "xroad:INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE" and optionally a path
 * or query ("/callbacks/sms", "?v=1": printable ASCII, no '#'), made into
 * the form gateway/fetch sends to the security server,
 * "xroad:/r1/<encoded service><path>#<issue>" (issue: NULL or "" for none,
 * else letters, digits and "-._~": the message id).  Returns the length,
 * or -1 with the reason in err (a bad service, a bad path, too long for
 * out[cap]).  "xroad:/..." (the internal form itself) is refused.
 */
long xroad_callback_url(const char *url, const char *issue, char *out, size_t cap,
                        char *err, size_t errlen);

/* The parts of a rendered menu call "xroad:/r1/S/E/R/V/ICE/path?q#issue". */
struct xroad_call {
    const char *path;           /* "/r1/S/E/R/V/ICE/path?q" (into the input) */
    size_t path_len;
    size_t service_len;         /* bytes of path that are "/r1/S/E/R/V/ICE" */
    size_t issue_len;           /* bytes of the decoded issue; 0: none */
};

/*
 * xroad_call_split — read a rendered menu call (see the top).  The path is
 * "/r1/" and five non-empty parts, then nothing or '/' or '?' and the rest
 * up to the first '#', with no spaces or control characters; the issue
 * after the '#' is percent-decoded into issue[cap] (NUL-terminated, at most
 * XROAD_ISSUE_MAX bytes, no control characters).  0 on success; -1 with a
 * reason in err (may be NULL).
 */
int xroad_call_split(const char *s, size_t len, struct xroad_call *out, char *issue,
                     size_t cap, char *err, size_t errlen);

/*
 * xroad_uuid_format — a random (version 4, RFC 4122 variant) UUID from 16
 * random bytes: the version and variant bits are set, the rest kept;
 * lower-case hex with dashes and a NUL into out[XROAD_UUID_LEN + 1].
 */
void xroad_uuid_format(const uint8_t b[16], char out[XROAD_UUID_LEN + 1]);

/* true when s is a header value we may send: no control characters (so no
 * CR/LF: no header injection), at most XROAD_ISSUE_MAX bytes. */
bool xroad_header_value_ok(const char *s);

/* The request's X-Road header lines. */
struct xroad_headers {
    size_t n;
    const char *line[4];        /* into buf */
    char buf[4 * (XROAD_ISSUE_MAX + 32) + 2 * XROAD_SERVICE_PARTS * 3 * XROAD_PART_MAX];
};

/*
 * xroad_headers_build — "X-Road-Client: <client>", "X-Road-Id: <id>", and
 * "X-Road-UserId: <user_id>" / "X-Road-Issue: <issue>" when those are
 * neither NULL nor "".  client is the encoded identifier
 * (xroad_id_encode without path).  0, or -1 when a value is not
 * xroad_header_value_ok (or client is too long).
 */
int xroad_headers_build(struct xroad_headers *h, const char *client, const char *id,
                        const char *user_id, const char *issue);

#endif

#ifndef GATEWAY_COPENSSL_SHIM_H
#define GATEWAY_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/core_names.h>

// OpenSSL spells much of its SSL API as macros (SSL_CTX_set_mode, SSL_set_tlsext_host_name, the
// option bits built with SSL_OP_BIT), which Swift cannot import. These wrappers are the only C
// the TLS code needs; every one calls OpenSSL and adds no logic of its own.

/// Modes every gateway context sets: records may be written one at a time and the retry of a
/// blocked write may come from a moved buffer (the output queue's storage can grow), and idle
/// connections give back OpenSSL's two 16 KiB record buffers. Read-ahead lets one read(2) take
/// a whole record (header and body) or several, instead of two reads per record.
static inline void gw_ssl_ctx_set_gateway_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
}

/// Server options: no renegotiation (a client-triggered CPU sink), no compression (CRIME), the
/// server's cipher order; tickets only when asked for. A peer closing TCP without close_notify is
/// an EOF, not an error: HTTP clients do it all the time.
static inline void gw_ssl_ctx_set_server_options(SSL_CTX *ctx, int tickets) {
    uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE
        | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (!tickets) options |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, options);
    if (!tickets) SSL_CTX_set_num_tickets(ctx, 0);
    // Sessions live only in tickets: no per-session state on the server.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

static inline void gw_ssl_ctx_set_client_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
}

static inline int gw_ssl_ctx_set_proto_range(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

static inline void gw_ssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

static inline int gw_ssl_ctx_set_app_data(SSL_CTX *ctx, void *data) { return SSL_CTX_set_app_data(ctx, data); }
static inline void *gw_ssl_ctx_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }

static inline int gw_ssl_set_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }

/// ALPN on the server: http/1.1 is the only protocol; a client that offers only others (h2) is
/// refused with no_application_protocol, as RFC 7301 asks.
static inline int gw_alpn_select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                        const unsigned char *in, unsigned int inlen, void *arg) {
    static const unsigned char http11[] = "\x08http/1.1";
    (void)ssl; (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof(http11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

static inline void gw_ssl_ctx_set_alpn_http11(SSL_CTX *ctx) { SSL_CTX_set_alpn_select_cb(ctx, gw_alpn_select_http11, NULL); }

/// ALPN on the client side: offer http/1.1 only.
static inline int gw_ssl_ctx_offer_http11(SSL_CTX *ctx) {
    static const unsigned char http11[] = "\x08http/1.1";
    return SSL_CTX_set_alpn_protos(ctx, http11, sizeof(http11) - 1) == 0;
}

static inline int gw_ssl_filetype_pem(void) { return SSL_FILETYPE_PEM; }

/// Keys the HMAC of a session ticket (SHA-256), as SSL_CTX_set_tlsext_ticket_key_evp_cb asks.
static inline int gw_ticket_hmac_init(EVP_MAC_CTX *hctx, const unsigned char *key, size_t length) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_MAC_init(hctx, key, length, params) == 1;
}

#endif

/*
 * store: lifecycle, identity, the c-raft glue, the cluster clock and the
 * watcher's events.
 *
 * Happy path. store_start reads data_dir/regent-node.json (or creates it with
 * a fresh random Raft id), binds the Raft address through rtx, and either
 * starts c-raft on the existing log (a member) or hands over to discovery
 * (store_member.c), which ends in store__raft_start with or without a
 * bootstrap configuration. From then on c-raft applies entries through
 * fsm_apply; each applied command is queued as an event and delivered to the
 * watcher from the check handle, which also notices every change of Raft
 * state: a node that finds itself leader calls raft_barrier, and only when
 * the barrier applies does its cluster clock start (at the largest cluster
 * time ever applied) and forwarded proposals get accepted.
 *
 * Failure modes. A damaged identity file or a directory we cannot use fails
 * store_start. A port already in use, a damaged Raft log (auto-recovery is
 * off: c-raft reports, never truncates) or a committed command this build
 * does not understand make the store FAILED: STORE_EV_FATAL, and the owner
 * stops and exits. Nothing is ever skipped.
 *
 * Shutdown. store_stop completes our requests with RG_ESHUTDOWN, closes c-raft
 * (whose close callback runs raft_uv_close), then the transport, then our
 * own handles; the owner's callback fires when the last handle has closed.
 */
#include "raft/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/rg_log.h"
#include "raft/store_internal.h"

#define LOGM "store"

static const char *const phase_names[] = {
    [STORE_DISCOVER] = "discovering", [STORE_BOOTSTRAP] = "bootstrapping",
    [STORE_JOIN] = "joining",         [STORE_RUNNING] = "running",
    [STORE_REMOVED] = "removed",      [STORE_FAILED] = "failed",
    [STORE_CLOSING] = "closing",      [STORE_CLOSED] = "closed",
};

const char *store_phase_name(enum store_phase p)
{
    return (unsigned)p < RG_ARRAY_SIZE(phase_names) ? phase_names[p] : "unknown";
}

bool store_test_hooks_enabled(void)
{
    const char *v = getenv("REGENT_TEST_HOOKS");
    return v != NULL && strcmp(v, "1") == 0;
}

/* --- events ------------------------------------------------------------- */

void store__queue_event(struct store *s,
                        enum store_event ev,
                        struct store_cmd *cmd,
                        const struct store_result *res,
                        uint64_t index)
{
    if (s->n_evq == s->cap_evq) {
        s->cap_evq = s->cap_evq ? s->cap_evq * 2 : 16;
        s->evq = rg_realloc(s->evq, s->cap_evq * sizeof *s->evq);
    }
    struct store_ev *e = &s->evq[s->n_evq++];
    memset(e, 0, sizeof *e);
    e->ev = ev;
    if (cmd != NULL) {
        e->cmd = *cmd; /* takes cmd->json */
        cmd->json = NULL;
    } else {
        store_cmd_init(&e->cmd);
    }
    if (res != NULL) {
        e->res = *res;
    }
    e->index = index;
}

static void deliver_events(struct store *s)
{
    while (s->n_evq > 0) {
        /* Swap the queue out: a watcher may cause further events. */
        struct store_ev *q = s->evq;
        size_t n = s->n_evq;
        s->evq = NULL;
        s->n_evq = s->cap_evq = 0;
        for (size_t i = 0; i < n; i++) {
            bool has_cmd = q[i].ev == STORE_EV_APPLIED;
            if (s->watch != NULL && s->phase != STORE_CLOSING && s->phase != STORE_CLOSED) {
                s->watch(s->watch_data, q[i].ev, has_cmd ? &q[i].cmd : NULL,
                         has_cmd ? &q[i].res : NULL, q[i].index);
            }
            store_cmd_close(&q[i].cmd);
        }
        rg_free(q);
        if (s->phase != STORE_CLOSING && s->phase != STORE_CLOSED) {
            store__wait_poke(s);
        }
    }
}

void store__fail(struct store *s, const char *fmt, ...)
{
    if (s->phase == STORE_FAILED || s->phase == STORE_CLOSING || s->phase == STORE_CLOSED) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    s->phase = STORE_FAILED;
    rg_log(RG_ERROR, LOGM, "%s", s->errmsg);
    store__queue_event(s, STORE_EV_FATAL, NULL, NULL, 0);
}

/* --- the state machine, for c-raft ------------------------------------- */

/* c-raft pads payloads to a multiple of 8 bytes on the wire and on disk, so
 * a follower sees up to 7 NUL bytes after the JSON text the leader wrote. */
static size_t payload_len(const struct raft_buffer *buf)
{
    const char *p = buf->base;
    size_t len = buf->len;
    while (len > 0 && buf->len - len < 8 && p[len - 1] == '\0') {
        len--;
    }
    return len;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct store *s = fsm->data;
    uint64_t index = raft_last_applied(&s->raft) + 1;
    char err[RG_ERRMSG_SIZE] = "";
    struct store_cmd cmd;

    *result = NULL;
    if (s->fatal_apply) {
        return RAFT_MALFORMED;
    }
    int rv = store_cmd_decode(buf->base, payload_len(buf), &cmd, err);
    if (rv == 0) {
        store_fsm_apply(&s->state, &cmd, &s->apply_res);
        if (s->apply_res.code == RG_EUNSUPPORTED) {
            rv = RG_EUNSUPPORTED;
            snprintf(err, sizeof err, "%s", s->apply_res.reason);
        }
    }
    if (rv != 0) {
        /* Never skip an entry: stop applying, and the owner exits. */
        s->fatal_apply = true;
        store__fail(s, "cannot apply Raft entry %" PRIu64 ": %s%s", index,
                    rv == RG_EUNSUPPORTED ? "a command this build does not understand: " : "", err);
        store_cmd_close(&cmd);
        return RAFT_MALFORMED;
    }
    s->applied_mono = rg_boottime_ms();
    store__queue_event(s, STORE_EV_APPLIED, &cmd, &s->apply_res, index);
    store_cmd_close(&cmd);
    *result = &s->apply_res;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct store *s = fsm->data;
    char *text;
    size_t len;

    store_state_snapshot(&s->state, &text, &len);
    /* c-raft frees what it is given with raft_free. */
    *bufs = raft_malloc(sizeof **bufs);
    void *base = raft_malloc(len);
    if (*bufs == NULL || base == NULL) {
        raft_free(*bufs);
        raft_free(base);
        rg_free(text);
        return RAFT_NOMEM;
    }
    memcpy(base, text, len);
    rg_free(text);
    (*bufs)[0].base = base;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    rg_log(RG_DEBUG, LOGM, "snapshot taken (%zu bytes)", len);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct store *s = fsm->data;
    char err[RG_ERRMSG_SIZE] = "";

    int rv = store_state_restore(&s->state, buf->base, payload_len(buf), err);
    if (rv != 0) {
        /* On failure c-raft keeps ownership of the buffer. */
        rg_log(RG_ERROR, LOGM, "cannot restore the Raft snapshot: %s", err);
        snprintf(s->errmsg, sizeof s->errmsg, "cannot restore the Raft snapshot: %s", err);
        return RAFT_MALFORMED;
    }
    raft_free(buf->base);
    s->applied_mono = rg_boottime_ms();
    store__queue_event(s, STORE_EV_RESTORED, NULL, NULL, 0);
    return 0;
}

/* --- identity ------------------------------------------------------------ */

static char *path_in(const struct store *s, const char *file)
{
    return rg_asprintf("%s/%s", s->data_dir, file);
}

static bool file_exists(const struct store *s, const char *file)
{
    char *p = path_in(s, file);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    rg_free(p);
    return ok;
}

/* Write the identity file atomically (temporary file, fsync, rename, fsync of
 * the directory). It is written once at creation and once when the node
 * becomes a member, before it has any Raft role, so the short blocking write
 * cannot delay anything that depends on the loop. */
int store__identity_write(struct store *s, bool member, char *errmsg)
{
    char *tmp = path_in(s, STORE_ID_FILE ".tmp");
    char *dst = path_in(s, STORE_ID_FILE);
    char *text =
        rg_asprintf("{\"scope\":\"%s\",\"name\":\"%s\",\"id\":\"%" PRIu64 "\",\"member\":%s}\n",
                    s->scope, s->name, s->id, member ? "true" : "false");
    int rv = RG_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rg_errmsg_printf(errmsg, "could not create \"%s\": %s", tmp, strerror(errno));
        goto out;
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        rg_errmsg_printf(errmsg, "could not write \"%s\": %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, dst) != 0) {
        rg_errmsg_printf(errmsg, "could not rename \"%s\": %s", tmp, strerror(errno));
        goto out;
    }
    fd = open(s->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    s->member = member;
    rv = 0;
out:
    rg_free(text);
    rg_free(tmp);
    rg_free(dst);
    return rv;
}

static int identity_parse(struct store *s, const char *path, const char *text, char *errmsg)
{
    cJSON *j = cJSON_Parse(text);
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(j, "scope");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *member = cJSON_GetObjectItemCaseSensitive(j, "member");
    uint64_t id = 0;
    int rv = RG_ECONFIG;

    if (!cJSON_IsObject(j) || !cJSON_IsString(scope) || !cJSON_IsString(name) ||
        !cJSON_IsBool(member) || !store__u64_get(j, "id", &id) || id == 0) {
        rg_errmsg_printf(errmsg,
                         "\"%s\" is damaged (expected scope, name, id and member); a node "
                         "whose identity is lost must rejoin with an empty Raft directory",
                         path);
        goto out;
    }
    if (strcmp(scope->valuestring, s->scope) != 0) {
        rg_errmsg_printf(errmsg,
                         "\"%s\" belongs to cluster \"%s\", not \"%s\": refusing to use "
                         "another cluster's Raft directory",
                         path, scope->valuestring, s->scope);
        goto out;
    }
    if (strcmp(name->valuestring, s->name) != 0) {
        rg_log(RG_WARNING, LOGM, "member name changed from \"%s\" to \"%s\" (Raft id %" PRIx64 ")",
               name->valuestring, s->name, id);
    }
    s->id = id;
    s->member = cJSON_IsTrue(member);
    rv = 0;
out:
    cJSON_Delete(j);
    return rv;
}

static int identity_load(struct store *s, char *errmsg)
{
    char *path = path_in(s, STORE_ID_FILE);
    int rv = 0;
    FILE *f = fopen(path, "re");

    s->has_state = file_exists(s, "metadata1") || file_exists(s, "metadata2");
    if (f == NULL && errno == ENOENT) {
        if (s->has_state) {
            rg_errmsg_printf(errmsg,
                             "\"%s\" holds Raft data but no %s: refusing to start under an "
                             "unknown identity; empty the directory to rejoin as a new member",
                             s->data_dir, STORE_ID_FILE);
            rv = RG_ECONFIG;
            goto out;
        }
        do {
            if (rg_random_bytes(&s->id, sizeof s->id) != 0) {
                rg_errmsg_printf(errmsg, "could not read random bytes for the Raft id");
                rv = RG_EIO;
                goto out;
            }
        } while (s->id == 0);
        rv = store__identity_write(s, false, errmsg);
        if (rv == 0) {
            rg_log(RG_INFO, LOGM, "new Raft identity %" PRIx64 " in %s", s->id, s->data_dir);
        }
        goto out;
    }
    if (f == NULL) {
        rg_errmsg_printf(errmsg, "could not open \"%s\": %s", path, strerror(errno));
        rv = RG_EIO;
        goto out;
    }
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    rv = identity_parse(s, path, text, errmsg);
    if (rv == 0 && !s->member && s->has_state) {
        /* Stopped between raft_bootstrap (or the first entries) and the
         * identity update: the Raft data says we are a member. */
        s->member = true;
    }
out:
    rg_free(path);
    return rv;
}

/* --- c-raft -------------------------------------------------------------- */

static void advance_close(struct store *s);

static void raft_closed_cb(struct raft *r)
{
    struct store *s = rg_container_of(r, struct store, raft);
    raft_uv_close(&s->io);
    s->raft_init = false;
    if (s->phase == STORE_CLOSING) {
        advance_close(s);
    }
}

static void raft_shut(struct store *s)
{
    if (s->raft_init && s->raft_on) {
        s->raft_on = false;
        s->leading = false;
        s->clock_ready = false;
        raft_close(&s->raft, raft_closed_cb);
    }
}

int store__raft_start(struct store *s, const struct raft_configuration *bootstrap)
{
    int rv = raft_uv_init(&s->io, s->loop, s->data_dir, &s->transport);
    if (rv != 0) {
        store__fail(s, "could not open the Raft directory \"%s\": %s", s->data_dir,
                    s->io.errmsg[0] ? s->io.errmsg : raft_strerror(rv));
        return RG_ERAFT;
    }
    raft_uv_set_auto_recovery(&s->io, false);
    if (s->segment_size > 0) {
        raft_uv_set_segment_size(&s->io, s->segment_size);
    }
    s->fsm.version = 1;
    s->fsm.data = s;
    s->fsm.apply = fsm_apply;
    s->fsm.snapshot = fsm_snapshot;
    s->fsm.restore = fsm_restore;
    rv = raft_init(&s->raft, &s->io, &s->fsm, s->id, s->self_addr);
    if (rv != 0) {
        store__fail(s, "could not start Raft in \"%s\": %s", s->data_dir, raft_errmsg(&s->raft));
        raft_uv_close(&s->io);
        return RG_ERAFT;
    }
    s->raft_init = true;
    s->raft_on = true;
    raft_set_election_timeout(&s->raft, s->election_timeout);
    raft_set_heartbeat_timeout(&s->raft, s->heartbeat_interval);
    raft_set_pre_vote(&s->raft, true);
    raft_set_max_catch_up_round_duration(&s->raft, 2 * s->election_timeout);
    if (s->snapshot_threshold > 0) {
        raft_set_snapshot_threshold(&s->raft, s->snapshot_threshold);
    }
    if (s->snapshot_trailing > 0) {
        raft_set_snapshot_trailing(&s->raft, s->snapshot_trailing);
    }
    if (bootstrap != NULL) {
        rv = raft_bootstrap(&s->raft, bootstrap);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
            store__fail(s, "could not bootstrap Raft in \"%s\": %s", s->data_dir,
                        raft_errmsg(&s->raft));
            raft_shut(s);
            return RG_ERAFT;
        }
    }
    rv = raft_start(&s->raft);
    if (rv != 0) {
        store__fail(s,
                    "could not load the Raft log in \"%s\": %s (auto-recovery is off: "
                    "restore the directory from a healthy member, or empty it to rejoin as a "
                    "new member)",
                    s->data_dir, raft_errmsg(&s->raft));
        raft_shut(s);
        return RG_ERAFT;
    }
    s->no_leader_since = rg_boottime_ms();
    s->start_index = raft_last_index(&s->raft);
    rg_log(RG_INFO, LOGM, "Raft started: id %" PRIx64 ", address %s, %s", s->id, s->self_addr,
           bootstrap != NULL        ? "bootstrapped a new cluster"
           : s->phase == STORE_JOIN ? "joined: waiting for the leader's log"
                                    : "log loaded");
    s->phase = STORE_RUNNING;
    store__upkeep_start(s);
    return 0;
}

void store__removed(struct store *s, const char *why)
{
    if (s->phase != STORE_RUNNING) {
        return;
    }
    rg_log(RG_WARNING, LOGM, "this node is no longer a member of the cluster (%s): stopping Raft",
           why);
    s->phase = STORE_REMOVED;
    raft_shut(s);
    store__queue_event(s, STORE_EV_REMOVED, NULL, NULL, 0);
}

bool store__in_config(const struct store *s, uint64_t id, int *role)
{
    if (!s->raft_init) {
        return false;
    }
    const struct raft_configuration *c = &s->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            if (role != NULL) {
                *role = c->servers[i].role;
            }
            return true;
        }
    }
    return false;
}

const char *store__server_name(const struct store *s, uint64_t id, char *buf, size_t len)
{
    const struct store_peer *p = store_state_peer(&s->state, id);
    if (p != NULL) {
        return p->name;
    }
    if (s->raft_init) {
        const struct raft_configuration *c = &s->raft.configuration;
        for (unsigned i = 0; i < c->n; i++) {
            if (c->servers[i].id == id) {
                return c->servers[i].address;
            }
        }
    }
    snprintf(buf, len, "id:%" PRIx64, id);
    return buf;
}

/* --- cluster clock ------------------------------------------------------ */

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct store *s = rg_container_of(req, struct store, barrier);
    s->barrier_pending = false;
    if (status != 0 || !s->raft_on || raft_state(&s->raft) != RAFT_LEADER) {
        return; /* the next check retries while we still lead */
    }
    /* Everything earlier has applied: start at the largest cluster time ever
     * applied and never run faster than our boot clock. */
    s->clock_base_ct = s->state.last_ct > s->ct_issued ? s->state.last_ct : s->ct_issued;
    s->clock_base_mono = rg_boottime_ms();
    s->clock_ready = true;
    rg_log(RG_INFO, LOGM, "leading Raft term %llu, cluster time %" PRIu64 " ms",
           (unsigned long long)s->raft.current_term, s->clock_base_ct);
    store__queue_event(s, STORE_EV_ROLE, NULL, NULL, 0);
}

uint64_t store__next_ct(struct store *s)
{
    RG_ASSERT(s->clock_ready);
    uint64_t ct = s->clock_base_ct + (rg_boottime_ms() - s->clock_base_mono);
    if (ct < s->ct_issued) {
        ct = s->ct_issued;
    }
    s->ct_issued = ct;
    return ct;
}

uint64_t store_now_ct(const struct store *s)
{
    uint64_t now = rg_boottime_ms();
    if (s->clock_ready) {
        uint64_t ct = s->clock_base_ct + (now - s->clock_base_mono);
        return ct > s->ct_issued ? ct : s->ct_issued;
    }
    if (s->applied_mono == 0) {
        return s->state.last_ct;
    }
    return s->state.last_ct + (now - s->applied_mono);
}

/* After every loop iteration: c-raft 0.15 has no state-change callback, so
 * this is where a new term, a new leader or our own win is noticed. */
static void check_cb(uv_check_t *h)
{
    struct store *s = rg_container_of(h, struct store, check);

    if (s->raft_on) {
        int st = raft_state(&s->raft);
        if (st == RAFT_LEADER) {
            if (!s->leading) {
                s->leading = true;
                s->clock_ready = false;
            }
            /* raft_barrier fails during a transfer: the new leader's clock
             * will start instead. */
            if (!s->clock_ready && !s->barrier_pending && s->raft.transfer == NULL &&
                raft_barrier(&s->raft, &s->barrier, barrier_cb) == 0) {
                s->barrier_pending = true;
            }
        } else if (s->leading) {
            s->leading = false;
            s->clock_ready = false;
        }
        raft_id lid;
        const char *laddr;
        raft_leader(&s->raft, &lid, &laddr);
        if (lid != s->known_leader || st != s->known_state) {
            s->known_leader = lid;
            s->known_state = st;
            store__queue_event(s, STORE_EV_ROLE, NULL, NULL, 0);
        }
        if (lid != 0) {
            s->no_leader_since = 0;
        } else if (s->no_leader_since == 0) {
            s->no_leader_since = rg_boottime_ms();
        }
    }
    deliver_events(s);
}

/* --- start and stop ------------------------------------------------------ */

static uint64_t partners_digest(struct store *s)
{
    /* The sorted list of every address, self included: nodes bootstrap only
     * when they agree on it. */
    size_t n = s->n_partners + 1;
    const char **all = rg_calloc(n, sizeof *all);
    all[0] = s->self_addr;
    for (size_t i = 0; i < s->n_partners; i++) {
        all[i + 1] = s->partners[i];
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(all[j - 1], all[j]) > 0; j--) {
            const char *t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const char *p = all[i]; *p; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        }
        h = (h ^ ',') * 1099511628211ull;
    }
    rg_free(all);
    return h;
}

static void copy_options(struct store *s, const struct store_options *o)
{
    s->scope = rg_strdup(o->scope);
    s->name = rg_strdup(o->name);
    s->data_dir = rg_strdup(o->data_dir);
    s->self_addr = rg_strdup(o->self_addr);
    s->bind_addr = rg_strdup(o->bind_addr != NULL ? o->bind_addr : o->self_addr);
    s->secret = rg_strdup(o->secret);
    s->api_url = rg_strdup(o->api_url != NULL ? o->api_url : "");
    s->n_partners = 0;
    s->partners = rg_calloc(o->n_partners + 1, sizeof *s->partners);
    for (size_t i = 0; i < o->n_partners; i++) {
        /* Our own address in the list is not a partner. */
        if (strcmp(o->partners[i], o->self_addr) != 0) {
            s->partners[s->n_partners++] = rg_strdup(o->partners[i]);
        }
    }
    s->kind = o->kind;
    s->election_timeout = o->election_timeout ? o->election_timeout : 500;
    s->heartbeat_interval = o->heartbeat_interval ? o->heartbeat_interval : 50;
    s->voters = o->voters ? o->voters : 3;
    s->segment_size = o->segment_size;
    s->snapshot_threshold = o->snapshot_threshold;
    s->snapshot_trailing = o->snapshot_trailing;
    s->watch = o->watch;
    s->watch_data = o->watch_data;
    s->digest = partners_digest(s);
}

static void store_free(struct store *s)
{
    store_state_close(&s->state);
    for (size_t i = 0; i < s->n_evq; i++) {
        store_cmd_close(&s->evq[i].cmd);
    }
    rg_free(s->evq);
    for (size_t i = 0; i < s->n_partners; i++) {
        rg_free(s->partners[i]);
    }
    for (size_t i = 0; i < s->n_invited; i++) {
        rg_free(s->invited[i]);
    }
    rg_free(s->invited);
    rg_free(s->partners);
    rg_free(s->join_via);
    if (s->secret != NULL) {
        memset(s->secret, 0, strlen(s->secret));
    }
    rg_free(s->scope);
    rg_free(s->name);
    rg_free(s->data_dir);
    rg_free(s->self_addr);
    rg_free(s->bind_addr);
    rg_free(s->secret);
    rg_free(s->api_url);
    rg_free(s);
}

static int prepare_dir(const char *dir, char *errmsg)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rg_errmsg_printf(errmsg, "could not create the Raft directory \"%s\": %s", dir,
                         strerror(errno));
        return RG_EIO;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rg_errmsg_printf(errmsg, "\"%s\" is not a directory", dir);
        return RG_EIO;
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        rg_errmsg_printf(errmsg, "cannot use the Raft directory \"%s\": %s", dir, strerror(errno));
        return RG_EIO;
    }
    return 0;
}

/* Deferred start: runs on the first loop iteration, so that failures reach
 * the watcher as events rather than inside store_start. */
static void start_cb(uv_timer_t *t)
{
    struct store *s = rg_container_of(t, struct store, discover_timer);
    char err[RG_ERRMSG_SIZE] = "";

    if (s->phase != STORE_DISCOVER) {
        return;
    }
    if (rtx_listen(&s->transport, s->bind_addr, err) != 0) {
        store__fail(s, "%s", err);
        return;
    }
    if (s->member) {
        store__raft_start(s, NULL);
    } else {
        store__discover_start(s);
    }
}

int store_start(struct store **out, uv_loop_t *loop, const struct store_options *o, char *errmsg)
{
    struct store *s = rg_calloc(1, sizeof *s);
    int rv;

    s->loop = loop;
    copy_options(s, o);
    store_state_init(&s->state);
    rv = prepare_dir(s->data_dir, errmsg);
    if (rv == 0) {
        rv = identity_load(s, errmsg);
    }
    if (rv == 0) {
        rv = rtx_init(&s->transport, loop, s->secret, errmsg);
    }
    if (rv != 0) {
        store_free(s);
        return rv;
    }
    s->transport_init = true;
    rtx_set_rpc_handler(&s->transport, store__rpc_handler, s);
    const char *fault = store_test_hooks_enabled() ? getenv("REGENT_TEST_FAULT") : NULL;
    if (fault != NULL && strncmp(fault, "delay-forward-reply:", 20) == 0) {
        snprintf(s->fault_prefix, sizeof s->fault_prefix, "%s", fault + 20);
    }
    s->phase = STORE_DISCOVER;
    uv_check_init(loop, &s->check);
    uv_check_start(&s->check, check_cb);
    uv_timer_init(loop, &s->discover_timer);
    uv_timer_init(loop, &s->upkeep_timer);
    uv_timer_init(loop, &s->fault_timer);
    s->open_handles = 4;
    uv_timer_start(&s->discover_timer, start_cb, 0, 0);
    *out = s;
    return 0;
}

void store__handle_closed(uv_handle_t *h)
{
    struct store *s = h->data;
    RG_ASSERT(s->open_handles > 0);
    if (--s->open_handles == 0) {
        void (*cb)(void *) = s->stop_cb;
        void *arg = s->stop_arg;
        s->phase = STORE_CLOSED;
        store_free(s);
        if (cb != NULL) {
            cb(arg);
        }
    }
}

static void transport_closed_cb(struct raft_uv_transport *t)
{
    struct store *s = rg_container_of(t, struct store, transport);
    rtx_free(&s->transport);
    s->transport_init = false;
    advance_close(s);
}

/* Close in order: c-raft (it still uses the transport), the transport, then
 * our own handles. Each asynchronous step comes back here. */
static void advance_close(struct store *s)
{
    if (s->raft_init) {
        return; /* raft_closed_cb comes back */
    }
    if (s->transport_init) {
        if (!s->transport_closing) {
            s->transport_closing = true;
            rtx_shutdown(&s->transport, transport_closed_cb);
        }
        return;
    }
    if (!s->handles_closing) {
        s->handles_closing = true;
        s->check.data = s;
        s->discover_timer.data = s;
        s->upkeep_timer.data = s;
        s->fault_timer.data = s;
        uv_close((uv_handle_t *)&s->fault_timer, store__handle_closed);
        uv_close((uv_handle_t *)&s->check, store__handle_closed);
        uv_close((uv_handle_t *)&s->discover_timer, store__handle_closed);
        uv_close((uv_handle_t *)&s->upkeep_timer, store__handle_closed);
    }
}

void store_stop(struct store *s, void (*cb)(void *arg), void *arg)
{
    RG_PRE(s->phase != STORE_CLOSING && s->phase != STORE_CLOSED);
    s->phase = STORE_CLOSING;
    s->stop_cb = cb;
    s->stop_arg = arg;
    uv_timer_stop(&s->discover_timer);
    uv_timer_stop(&s->upkeep_timer);
    store__fault_flush(s);
    store__req_cancel_all(s);
    raft_shut(s);
    advance_close(s);
}

enum store_phase store_get_phase(const struct store *s)
{
    return s->phase;
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

void store_set_voters(struct store *s, unsigned voters)
{
    if (voters != s->voters) {
        rg_log(RG_INFO, LOGM, "target Raft voter count: %u -> %u", s->voters, voters);
        s->voters = voters;
    }
}

uint64_t store_self_id(const struct store *s)
{
    return s->id;
}

const struct store_state *store_get_state(const struct store *s)
{
    return &s->state;
}

bool store_caught_up(const struct store *s)
{
    if (!s->raft_on || s->phase != STORE_RUNNING) {
        return false;
    }
    struct raft *r = (struct raft *)&s->raft;
    raft_id lid;
    const char *laddr;
    raft_leader(r, &lid, &laddr);
    return lid != 0 && r->last_applied >= r->commit_index && r->last_applied >= s->start_index;
}

bool store_is_leader(const struct store *s)
{
    return s->raft_on && s->clock_ready && raft_state((struct raft *)&s->raft) == RAFT_LEADER;
}

/* --- Raft facts -------------------------------------------------------- */

void store_raft_info_get(const struct store *s, struct store_raft_info *out)
{
    char buf[64];
    memset(out, 0, sizeof *out);
    out->raft_state = RAFT_UNAVAILABLE;
    if (!s->raft_init) {
        return;
    }
    struct raft *r = (struct raft *)&s->raft;
    const struct raft_configuration *c = &r->configuration;
    out->term = r->current_term;
    out->commit_index = r->commit_index;
    out->applied_index = r->last_applied;
    out->raft_state = s->raft_on ? raft_state(r) : RAFT_UNAVAILABLE;
    if (s->raft_on) {
        raft_id lid;
        const char *laddr;
        raft_leader(r, &lid, &laddr);
        if (lid != 0) {
            out->leader = rg_strdup(store__server_name(s, lid, buf, sizeof buf));
        }
    }
    out->voters = rg_calloc(c->n + 1, sizeof *out->voters);
    out->standbys = rg_calloc(c->n + 1, sizeof *out->standbys);
    for (unsigned i = 0; i < c->n; i++) {
        char *name = rg_strdup(store__server_name(s, c->servers[i].id, buf, sizeof buf));
        if (c->servers[i].role == RAFT_VOTER) {
            out->voters[out->n_voters++] = name;
        } else {
            out->standbys[out->n_standbys++] = name;
        }
    }
}

void store_raft_info_close(struct store_raft_info *info)
{
    for (size_t i = 0; i < info->n_voters; i++) {
        rg_free(info->voters[i]);
    }
    for (size_t i = 0; i < info->n_standbys; i++) {
        rg_free(info->standbys[i]);
    }
    rg_free(info->voters);
    rg_free(info->standbys);
    rg_free(info->leader);
    memset(info, 0, sizeof *info);
}

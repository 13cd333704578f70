/*
 * sigtest: user-side tests of the Linux signal model (static musl program).
 *
 *   sigtest --list          print the subtest names, one a line
 *   sigtest NAME            run subtest NAME: exit 0 on success; on failure one line
 *                           "sigtest NAME: FAIL ..." on stderr and a nonzero status
 *   sigtest --exec-check    internal: the new image of fork_exec_semantics
 *
 * SIGTEST_VERBOSE=1 in the environment: forged_sigreturn reports each case's outcome.
 *
 * Every subtest runs in a forked child of the supervisor (this process), which
 * kills it after the subtest's time limit and reports a death by signal, so no
 * subtest can hang or take the caller down. Linux is the oracle: every subtest
 * passes natively on Linux x86_64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* ---- reporting and helpers ------------------------------------------------------ */

static const char *g_name = "?";
static const char *g_argv0 = "sigtest";

#define FAIL(...) fail_at(__LINE__, __VA_ARGS__)
#define CHECK(c, ...)                    \
	do {                             \
		if (!(c))                \
			FAIL(__VA_ARGS__); \
	} while (0)
/* A call that returns -1 with errno on failure. */
#define SYS(c) CHECK((c) != -1, "%s: %s", #c, strerror(errno))
/* A pthread call that returns an error number. */
#define PT(c)                                                       \
	do {                                                        \
		int pt_rc_ = (c);                                   \
		CHECK(pt_rc_ == 0, "%s: %s", #c, strerror(pt_rc_)); \
	} while (0)

static _Noreturn void fail_at(int line, const char *fmt, ...)
{
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dprintf(2, "sigtest %s: FAIL (line %d): %s\n", g_name, line, buf);
	_exit(1);
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Sleeps ms milliseconds, whatever signals arrive meanwhile. */
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Waits until *p >= want, for at most ms milliseconds; true if it got there. */
static int wait_at_least(_Atomic int *p, int want, long ms)
{
	long end = now_ms() + ms;
	while (atomic_load(p) < want) {
		if (now_ms() > end)
			return atomic_load(p) >= want;
		sleep_ms(1);
	}
	return 1;
}

static void set_action(int sig, void (*h)(int, siginfo_t *, void *), int flags, const sigset_t *mask)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h;
	sa.sa_flags = flags | SA_SIGINFO;
	if (mask)
		sa.sa_mask = *mask;
	else
		sigemptyset(&sa.sa_mask);
	SYS(sigaction(sig, &sa, NULL));
}

static void set_handler(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	SYS(sigaction(sig, &sa, NULL));
}

static void mask_op(int how, int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	PT(pthread_sigmask(how, &s, NULL));
}

static int is_blocked(int sig)
{
	sigset_t s;
	pthread_sigmask(SIG_BLOCK, NULL, &s);
	return sigismember(&s, sig);
}

static int is_pending(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	SYS(sigpending(&s));
	return sigismember(&s, sig);
}

static void *shared_mem(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap shared: %s", strerror(errno));
	return p;
}

static pid_t xfork(void)
{
	pid_t p = fork();
	CHECK(p != -1, "fork: %s", strerror(errno));
	return p;
}

/* No core files from children that die of a signal on purpose. */
static void no_core(void)
{
	struct rlimit r = { 0, 0 };
	setrlimit(RLIMIT_CORE, &r);
}

/* waitpid with a time limit: the pid, -1 with errno, or 0 after ms ms. */
static pid_t wait_timeout(pid_t pid, int *st, int flags, long ms)
{
	long end = now_ms() + ms;
	for (;;) {
		pid_t r = waitpid(pid, st, flags | WNOHANG);
		if (r != 0)
			return r;
		if (now_ms() > end)
			return 0;
		sleep_ms(2);
	}
}

/* Waits for child pid to end (10 s at most, then kills it) and returns its status. */
static int reap(pid_t pid)
{
	int st = 0;
	pid_t r = wait_timeout(pid, &st, 0, 10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		FAIL("child %d still running after 10 s", (int)pid);
	}
	CHECK(r == pid, "waitpid(%d): %s", (int)pid, r == -1 ? strerror(errno) : "wrong pid");
	return st;
}

static const char *describe(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, sizeof buf, "wait status 0x%x", st);
	return buf;
}

/*
 * A pester thread: every interval_ms it sends sig to target, until *stop is set
 * or (if max > 0) *count reaches max; then it runs after() (if any). Bounded to
 * 200 sends.
 */
struct pester {
	pthread_t thread;
	pthread_t target;
	int sig;
	int interval_ms;
	_Atomic int *stop;
	_Atomic int *count;
	int max;
	void (*after)(void);
};

static void *pester_main(void *arg)
{
	struct pester *p = arg;
	for (int i = 0; i < 200; i++) {
		sleep_ms(p->interval_ms);
		if (atomic_load(p->stop))
			break;
		if (p->max > 0 && atomic_load(p->count) >= p->max)
			break;
		pthread_kill(p->target, p->sig);
	}
	if (p->after)
		p->after();
	return NULL;
}

static void pester_start(struct pester *p)
{
	/* The pester itself never takes the signal. */
	sigset_t all, old;
	sigfillset(&all);
	PT(pthread_sigmask(SIG_BLOCK, &all, &old));
	PT(pthread_create(&p->thread, NULL, pester_main, p));
	PT(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/*
 * handler_siginfo: SA_SIGINFO handler: si_signo, si_code (SI_TKILL from raise/tgkill/tkill, SI_USER from
 * kill, SI_QUEUE + si_value from sigqueue/rt_sigqueueinfo), si_pid, si_uid, a ucontext.
 */

static _Atomic int hs_count;
static volatile int hs_sig, hs_signo, hs_code, hs_pid, hs_uid, hs_val, hs_ucnull;

static void hs_handler(int sig, siginfo_t *si, void *uc)
{
	hs_sig = sig;
	hs_signo = si->si_signo;
	hs_code = si->si_code;
	hs_pid = si->si_pid;
	hs_uid = (int)si->si_uid;
	hs_val = si->si_value.sival_int;
	hs_ucnull = uc == NULL;
	atomic_fetch_add(&hs_count, 1);
}

static void hs_expect(const char *how, int n, int sig, int code, int check_val, int val)
{
	CHECK(wait_at_least(&hs_count, n, 2000), "%s: the handler did not run", how);
	CHECK(atomic_load(&hs_count) == n, "%s: handler ran %d times, expected %d", how, atomic_load(&hs_count), n);
	CHECK(hs_sig == sig && hs_signo == sig, "%s: sig %d si_signo %d, expected %d", how, hs_sig, hs_signo, sig);
	CHECK(hs_code == code, "%s: si_code %d, expected %d", how, hs_code, code);
	CHECK(hs_pid == getpid(), "%s: si_pid %d, expected %d", how, hs_pid, (int)getpid());
	CHECK(hs_uid == (int)getuid(), "%s: si_uid %d, expected %d", how, hs_uid, (int)getuid());
	CHECK(!hs_ucnull, "%s: ucontext argument is NULL", how);
	if (check_val)
		CHECK(hs_val == val, "%s: si_value %d, expected %d", how, hs_val, val);
}

static int t_handler_siginfo(void)
{
	set_action(SIGUSR1, hs_handler, 0, NULL);
	set_action(SIGRTMIN + 1, hs_handler, 0, NULL);
	SYS(raise(SIGUSR1));
	hs_expect("raise", 1, SIGUSR1, SI_TKILL, 0, 0);
	SYS(syscall(SYS_tgkill, getpid(), my_tid(), SIGUSR1));
	hs_expect("tgkill", 2, SIGUSR1, SI_TKILL, 0, 0);
	SYS(syscall(SYS_tkill, my_tid(), SIGUSR1));
	hs_expect("tkill", 3, SIGUSR1, SI_TKILL, 0, 0);
	SYS(kill(getpid(), SIGUSR1));
	hs_expect("kill", 4, SIGUSR1, SI_USER, 0, 0);
	SYS(sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 0x1234 }));
	hs_expect("sigqueue", 5, SIGUSR1, SI_QUEUE, 1, 0x1234);
	SYS(sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = -77 }));
	hs_expect("sigqueue(SIGRTMIN+1)", 6, SIGRTMIN + 1, SI_QUEUE, 1, -77);
	/* A raw rt_sigqueueinfo to ourselves with our own siginfo. */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 4242;
	SYS(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
	hs_expect("rt_sigqueueinfo", 7, SIGUSR1, SI_QUEUE, 1, 4242);
	/* Signal 0 checks existence only; an invalid signal is EINVAL. */
	CHECK(kill(getpid(), 0) == 0, "kill(self, 0): %s", strerror(errno));
	CHECK(kill(getpid(), 65) == -1 && errno == EINVAL, "kill(self, 65) did not fail with EINVAL");
	CHECK(atomic_load(&hs_count) == 7, "spurious handler runs");
	return 0;
}

/*
 * thread_routing: a process-directed kill() goes to the only thread not blocking it (a worker,
 * then the main thread).
 */

#define TR_THREADS 4
static _Atomic int tr_count, tr_wrong, tr_ready, tr_stop, tr_phase, tr_ack;
static _Atomic pid_t tr_target, tr_got;
static pid_t tr_tids[TR_THREADS];

static void tr_handler(int sig)
{
	(void)sig;
	pid_t t = my_tid();
	atomic_store(&tr_got, t);
	if (t != atomic_load(&tr_target))
		atomic_fetch_add(&tr_wrong, 1);
	atomic_fetch_add(&tr_count, 1);
}

static void *tr_thread(void *arg)
{
	int i = (int)(intptr_t)arg;
	tr_tids[i] = my_tid();
	if (i == 2)
		mask_op(SIG_UNBLOCK, SIGUSR1);
	atomic_fetch_add(&tr_ready, 1);
	while (!atomic_load(&tr_stop)) {
		if (i == 2 && atomic_load(&tr_phase) == 1 && !atomic_load(&tr_ack)) {
			mask_op(SIG_BLOCK, SIGUSR1);
			atomic_store(&tr_ack, 1);
		}
		sleep_ms(2);
	}
	return NULL;
}

static int t_thread_routing(void)
{
	pthread_t th[TR_THREADS];
	set_handler(SIGUSR1, tr_handler, 0);
	mask_op(SIG_BLOCK, SIGUSR1);
	for (int i = 0; i < TR_THREADS; i++)
		PT(pthread_create(&th[i], NULL, tr_thread, (void *)(intptr_t)i));
	CHECK(wait_at_least(&tr_ready, TR_THREADS, 5000), "threads did not start");
	/* Round 1: only thread 2 does not block SIGUSR1. */
	atomic_store(&tr_target, tr_tids[2]);
	for (int i = 0; i < 20; i++) {
		SYS(kill(getpid(), SIGUSR1));
		CHECK(wait_at_least(&tr_count, i + 1, 3000), "round 1: kill %d never handled", i);
		CHECK(atomic_load(&tr_wrong) == 0, "round 1: handled by tid %d, expected %d (the only thread not blocking it)",
		      (int)atomic_load(&tr_got), (int)tr_tids[2]);
	}
	/* Round 2: thread 2 blocks it again, the main thread unblocks it. */
	atomic_store(&tr_phase, 1);
	CHECK(wait_at_least(&tr_ack, 1, 3000), "thread 2 did not block SIGUSR1");
	atomic_store(&tr_target, my_tid());
	mask_op(SIG_UNBLOCK, SIGUSR1);
	for (int i = 0; i < 10; i++) {
		SYS(kill(getpid(), SIGUSR1));
		CHECK(wait_at_least(&tr_count, 21 + i, 3000), "round 2: kill %d never handled", i);
		CHECK(atomic_load(&tr_wrong) == 0, "round 2: handled by tid %d, expected the main thread %d",
		      (int)atomic_load(&tr_got), (int)my_tid());
	}
	atomic_store(&tr_stop, 1);
	for (int i = 0; i < TR_THREADS; i++)
		PT(pthread_join(th[i], NULL));
	CHECK(atomic_load(&tr_count) == 30, "handled %d times, expected 30", atomic_load(&tr_count));
	return 0;
}

/*
 * pending_unblock: a blocked signal stays pending (sigpending, raw rt_sigpending), is delivered
 * before sigprocmask returns on unblock, standard signals coalesce, SIG_IGN discards.
 */

static _Atomic int pu_count;
static void pu_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&pu_count, 1);
}

static int t_pending_unblock(void)
{
	set_handler(SIGUSR1, pu_handler, 0);
	set_handler(SIGUSR2, pu_handler, 0);
	mask_op(SIG_BLOCK, SIGUSR1);
	CHECK(!is_pending(SIGUSR1), "SIGUSR1 pending before anything was sent");
	/* Thread-directed, twice: stays pending, coalesces. */
	SYS(raise(SIGUSR1));
	SYS(raise(SIGUSR1));
	sleep_ms(50);
	CHECK(atomic_load(&pu_count) == 0, "a blocked signal was delivered");
	CHECK(is_pending(SIGUSR1), "sigpending does not show the blocked SIGUSR1");
	CHECK(!is_pending(SIGUSR2), "sigpending shows SIGUSR2, never sent");
	sigset_t raw;
	sigemptyset(&raw);
	SYS(syscall(SYS_rt_sigpending, &raw, 8));
	CHECK(sigismember(&raw, SIGUSR1), "raw rt_sigpending does not show SIGUSR1");
	/* POSIX: delivered before sigprocmask returns. */
	mask_op(SIG_UNBLOCK, SIGUSR1);
	CHECK(atomic_load(&pu_count) == 1, "after unblock the handler ran %d times, expected 1 (before sigprocmask returned)",
	      atomic_load(&pu_count));
	CHECK(!is_pending(SIGUSR1), "SIGUSR1 still pending after delivery");
	sleep_ms(50);
	CHECK(atomic_load(&pu_count) == 1, "a standard signal sent twice was delivered %d times", atomic_load(&pu_count));
	/* Process-directed. */
	mask_op(SIG_BLOCK, SIGUSR1);
	SYS(kill(getpid(), SIGUSR1));
	sleep_ms(20);
	CHECK(atomic_load(&pu_count) == 1 && is_pending(SIGUSR1), "process-directed SIGUSR1 not kept pending");
	mask_op(SIG_UNBLOCK, SIGUSR1);
	CHECK(atomic_load(&pu_count) == 2, "process-directed SIGUSR1 not delivered on unblock");
	/* A pending signal that becomes ignored is discarded. */
	mask_op(SIG_BLOCK, SIGUSR2);
	SYS(raise(SIGUSR2));
	CHECK(is_pending(SIGUSR2), "SIGUSR2 not pending");
	set_handler(SIGUSR2, SIG_IGN, 0);
	CHECK(!is_pending(SIGUSR2), "pending SIGUSR2 not discarded when set to SIG_IGN");
	mask_op(SIG_UNBLOCK, SIGUSR2);
	CHECK(atomic_load(&pu_count) == 2, "an ignored signal ran the handler");
	return 0;
}

/*
 * sigwait: sigwait takes a pending signal; sigtimedwait times out with EAGAIN (and polls with
 * 0); sigwaitinfo returns the siginfo; a signal from another thread wakes the waiter.
 */

static void *sw_sender(void *arg)
{
	(void)arg;
	sleep_ms(100);
	kill(getpid(), SIGUSR1);
	return NULL;
}

static int t_sigwait(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	PT(pthread_sigmask(SIG_BLOCK, &set, NULL));
	/* sigwait takes a pending signal. */
	SYS(raise(SIGUSR2));
	int sig = 0;
	PT(sigwait(&set, &sig));
	CHECK(sig == SIGUSR2, "sigwait returned %d, expected SIGUSR2", sig);
	CHECK(!is_pending(SIGUSR2), "SIGUSR2 still pending after sigwait took it");
	/* sigtimedwait with nothing pending: EAGAIN after the timeout. */
	struct timespec to = { 0, 100 * 1000000L };
	long t0 = now_ms();
	int r = sigtimedwait(&set, NULL, &to);
	long dt = now_ms() - t0;
	CHECK(r == -1 && errno == EAGAIN, "sigtimedwait with nothing pending: %d (%s), expected EAGAIN", r,
	      strerror(errno));
	CHECK(dt >= 90 && dt < 5000, "sigtimedwait(100 ms) took %ld ms", dt);
	/* A zero timeout polls. */
	to.tv_nsec = 0;
	r = sigtimedwait(&set, NULL, &to);
	CHECK(r == -1 && errno == EAGAIN, "sigtimedwait(0): %d, expected EAGAIN", r);
	/* sigwaitinfo returns the siginfo of a queued signal. */
	SYS(sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 77 }));
	siginfo_t si;
	memset(&si, 0, sizeof si);
	r = sigwaitinfo(&set, &si);
	CHECK(r == SIGUSR1, "sigwaitinfo returned %d (%s)", r, strerror(errno));
	CHECK(si.si_signo == SIGUSR1 && si.si_code == SI_QUEUE && si.si_value.sival_int == 77 && si.si_pid == getpid(),
	      "sigwaitinfo siginfo: signo %d code %d value %d pid %d", si.si_signo, si.si_code, si.si_value.sival_int,
	      (int)si.si_pid);
	/* A signal sent by another thread while we wait wakes sigtimedwait. */
	pthread_t th;
	PT(pthread_create(&th, NULL, sw_sender, NULL));
	to.tv_sec = 5;
	to.tv_nsec = 0;
	t0 = now_ms();
	memset(&si, 0, sizeof si);
	r = sigtimedwait(&set, &si, &to);
	dt = now_ms() - t0;
	PT(pthread_join(th, NULL));
	CHECK(r == SIGUSR1, "sigtimedwait woken by a thread's kill: %d (%s)", r, strerror(errno));
	CHECK(si.si_code == SI_USER, "si_code %d, expected SI_USER", si.si_code);
	CHECK(dt < 4000, "sigtimedwait returned only after %ld ms", dt);
	return 0;
}

/*
 * eintr_pipe: read on an empty pipe: EINTR without SA_RESTART; with SA_RESTART it resumes
 * through several handlers and returns the byte written later by another thread.
 */

static _Atomic int ei_count, ei_stop;
static int ei_wfd = -1;
static void ei_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&ei_count, 1);
}

static void ei_write_after(void)
{
	sleep_ms(100);
	if (write(ei_wfd, "x", 1) != 1)
		_exit(3);
}

static int t_eintr_pipe(void)
{
	int p[2];
	char c = 0;
	SYS(pipe(p));
	ei_wfd = p[1];
	/* Without SA_RESTART: EINTR. */
	set_handler(SIGUSR1, ei_handler, 0);
	struct pester pe = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 100, .stop = &ei_stop, .count = &ei_count };
	pester_start(&pe);
	ssize_t r = read(p[0], &c, 1);
	int e = errno;
	atomic_store(&ei_stop, 1);
	PT(pthread_join(pe.thread, NULL));
	CHECK(r == -1 && e == EINTR, "read on an empty pipe interrupted by a handler: %zd (%s), expected EINTR", r,
	      strerror(e));
	CHECK(atomic_load(&ei_count) >= 1, "the handler did not run");
	/* With SA_RESTART: the read resumes and gets the data written later. */
	set_handler(SIGUSR1, ei_handler, SA_RESTART);
	atomic_store(&ei_count, 0);
	atomic_store(&ei_stop, 0);
	struct pester pr = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 100, .stop = &ei_stop,
			     .count = &ei_count, .max = 3, .after = ei_write_after };
	pester_start(&pr);
	r = read(p[0], &c, 1);
	e = errno;
	atomic_store(&ei_stop, 1);
	PT(pthread_join(pr.thread, NULL));
	CHECK(r == 1 && c == 'x', "read with SA_RESTART handler: %zd (%s), expected the byte written later", r,
	      r < 0 ? strerror(e) : "data");
	CHECK(atomic_load(&ei_count) >= 3, "handler ran %d times during the read, expected 3", atomic_load(&ei_count));
	close(p[0]);
	close(p[1]);
	return 0;
}

/*
 * eintr_futex: raw FUTEX_WAIT: EINTR without SA_RESTART, restarted with it; pthread_cond_wait
 * interrupted by handlers never returns an error.
 */

#define FUTEX_WAIT_ 0
#define FUTEX_WAKE_ 1
#define FUTEX_PRIVATE_ 128
static _Atomic int ef_word;
static void ef_wake_after(void)
{
	sleep_ms(100);
	atomic_store(&ef_word, 1);
	syscall(SYS_futex, &ef_word, FUTEX_WAKE_ | FUTEX_PRIVATE_, 1, NULL, NULL, 0);
}

static pthread_mutex_t cw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cw_cond = PTHREAD_COND_INITIALIZER;
static int cw_pred, cw_badrc, cw_waits;
static _Atomic int cw_ready;

static void *cw_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cw_lock);
	atomic_store(&cw_ready, 1);
	while (!cw_pred) {
		int rc = pthread_cond_wait(&cw_cond, &cw_lock);
		cw_waits++;
		if (rc != 0)
			cw_badrc = rc;
	}
	pthread_mutex_unlock(&cw_lock);
	return NULL;
}

static int t_eintr_futex(void)
{
	/* Raw FUTEX_WAIT without SA_RESTART: EINTR. */
	set_handler(SIGUSR1, ei_handler, 0);
	struct pester pe = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 100, .stop = &ei_stop, .count = &ei_count };
	pester_start(&pe);
	long r = syscall(SYS_futex, &ef_word, FUTEX_WAIT_ | FUTEX_PRIVATE_, 0, NULL, NULL, 0);
	int e = errno;
	atomic_store(&ei_stop, 1);
	PT(pthread_join(pe.thread, NULL));
	CHECK(r == -1 && e == EINTR, "FUTEX_WAIT interrupted by a handler without SA_RESTART: %ld (%s), expected EINTR", r,
	      strerror(e));
	CHECK(atomic_load(&ei_count) >= 1, "the handler did not run");
	/* With SA_RESTART: no EINTR; the wait ends with the wake. */
	set_handler(SIGUSR1, ei_handler, SA_RESTART);
	atomic_store(&ei_count, 0);
	atomic_store(&ei_stop, 0);
	struct pester pr = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 100, .stop = &ei_stop,
			     .count = &ei_count, .max = 3, .after = ef_wake_after };
	pester_start(&pr);
	r = 0;
	while (atomic_load(&ef_word) == 0) {
		r = syscall(SYS_futex, &ef_word, FUTEX_WAIT_ | FUTEX_PRIVATE_, 0, NULL, NULL, 0);
		e = errno;
		if (r == -1 && e == EINTR)
			break;
	}
	atomic_store(&ei_stop, 1);
	PT(pthread_join(pr.thread, NULL));
	CHECK(!(r == -1 && e == EINTR), "FUTEX_WAIT gave EINTR despite SA_RESTART");
	CHECK(r == 0 || (r == -1 && e == EAGAIN), "FUTEX_WAIT with SA_RESTART: %ld (%s)", r, strerror(e));
	CHECK(atomic_load(&ei_count) >= 3, "handler ran %d times, expected 3", atomic_load(&ei_count));
	/* pthread_cond_wait interrupted by handlers never returns an error. */
	set_handler(SIGUSR1, ei_handler, 0);
	atomic_store(&ei_count, 0);
	atomic_store(&ei_stop, 0);
	pthread_t th;
	PT(pthread_create(&th, NULL, cw_waiter, NULL));
	CHECK(wait_at_least(&cw_ready, 1, 3000), "waiter did not start");
	struct pester pc = { .target = th, .sig = SIGUSR1, .interval_ms = 50, .stop = &ei_stop, .count = &ei_count, .max = 3 };
	pester_start(&pc);
	PT(pthread_join(pc.thread, NULL));
	CHECK(atomic_load(&ei_count) >= 3, "the waiter's handler ran %d times", atomic_load(&ei_count));
	pthread_mutex_lock(&cw_lock);
	cw_pred = 1;
	pthread_cond_signal(&cw_cond);
	pthread_mutex_unlock(&cw_lock);
	PT(pthread_join(th, NULL));
	CHECK(cw_badrc == 0, "pthread_cond_wait returned %d (%s) after a signal", cw_badrc, strerror(cw_badrc));
	return 0;
}

/*
 * eintr_nanosleep: nanosleep returns EINTR (with or without SA_RESTART) with the remaining time;
 * clock_nanosleep returns EINTR.
 */

static int t_eintr_nanosleep(void)
{
	for (int restart = 0; restart < 2; restart++) {
		/* nanosleep returns EINTR after a handler whatever SA_RESTART says. */
		set_handler(SIGUSR1, ei_handler, restart ? SA_RESTART : 0);
		atomic_store(&ei_count, 0);
		atomic_store(&ei_stop, 0);
		struct pester pe = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 200, .stop = &ei_stop,
				     .count = &ei_count };
		pester_start(&pe);
		struct timespec req = { 5, 0 }, rem = { -1, -1 };
		long t0 = now_ms();
		int r = nanosleep(&req, &rem);
		int e = errno;
		long dt = now_ms() - t0;
		atomic_store(&ei_stop, 1);
		PT(pthread_join(pe.thread, NULL));
		CHECK(r == -1 && e == EINTR, "nanosleep(5 s)%s interrupted: %d (%s) after %ld ms, expected EINTR",
		      restart ? " with SA_RESTART" : "", r, strerror(e), dt);
		long rem_ms = rem.tv_sec * 1000L + rem.tv_nsec / 1000000L;
		CHECK(rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000L, "rem.tv_nsec %ld out of range", rem.tv_nsec);
		CHECK(rem_ms > 5000 - dt - 500 && rem_ms <= 5000 - dt + 50,
		      "remaining time %ld ms after sleeping %ld ms of 5000", rem_ms, dt);
	}
	/* clock_nanosleep returns the error number and fills in the remaining time. */
	set_handler(SIGUSR1, ei_handler, 0);
	atomic_store(&ei_stop, 0);
	struct pester pe = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 200, .stop = &ei_stop, .count = &ei_count };
	pester_start(&pe);
	struct timespec req = { 5, 0 }, rem = { 0, 0 };
	int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	atomic_store(&ei_stop, 1);
	PT(pthread_join(pe.thread, NULL));
	CHECK(r == EINTR, "clock_nanosleep interrupted: %d, expected EINTR", r);
	CHECK(rem.tv_sec >= 3 && rem.tv_sec <= 5, "clock_nanosleep remaining %ld s", (long)rem.tv_sec);
	return 0;
}

/*
 * sigaltstack: SA_ONSTACK handlers run on the alternate stack, see SS_ONSTACK and get EPERM
 * changing it; others do not; ENOMEM/EINVAL; SS_DISABLE; a thread's stack overflow caught on it.
 */

static char *as_base;
static size_t as_size;
static _Atomic int as_count;
static volatile uintptr_t as_local;
static volatile int as_flags, as_set_rc, as_set_errno;

static void as_handler(int sig)
{
	(void)sig;
	volatile char local = 0;
	as_local = (uintptr_t)&local;
	stack_t cur;
	memset(&cur, 0, sizeof cur);
	sigaltstack(NULL, &cur);
	as_flags = cur.ss_flags;
	stack_t n = { .ss_sp = as_base, .ss_flags = 0, .ss_size = as_size };
	as_set_rc = sigaltstack(&n, NULL);
	as_set_errno = errno;
	atomic_fetch_add(&as_count, 1);
}

static int as_inside(uintptr_t a)
{
	return a >= (uintptr_t)as_base && a < (uintptr_t)as_base + as_size;
}

/* Stack overflow in a thread, caught on the alternate stack. */
static char *ov_alt;
static void ov_segv(int sig)
{
	(void)sig;
	volatile char local = 0;
	_exit(as_inside((uintptr_t)&local) || ((uintptr_t)&local >= (uintptr_t)ov_alt &&
						   (uintptr_t)&local < (uintptr_t)ov_alt + 65536)
		      ? 42
		      : 43);
}

static volatile int ov_limit = 1 << 30;
static int ov_recurse(volatile char *p, int depth)
{
	volatile char buf[512];
	if (depth > ov_limit)
		return 0;
	buf[0] = (char)depth;
	if (p)
		buf[1] = p[0];
	return ov_recurse(buf, depth + 1) + buf[1];
}

static void *ov_thread(void *arg)
{
	(void)arg;
	stack_t ss = { .ss_sp = ov_alt, .ss_flags = 0, .ss_size = 65536 };
	if (sigaltstack(&ss, NULL) != 0)
		_exit(44);
	ov_recurse(NULL, 0);
	_exit(45);
}

static int t_sigaltstack(void)
{
	as_size = 64 * 1024;
	as_base = mmap(NULL, as_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(as_base != MAP_FAILED, "mmap");
	stack_t cur;
	memset(&cur, 0, sizeof cur);
	SYS(sigaltstack(NULL, &cur));
	CHECK(cur.ss_flags == SS_DISABLE, "initial ss_flags %d, expected SS_DISABLE", cur.ss_flags);
	stack_t ss = { .ss_sp = as_base, .ss_flags = 0, .ss_size = as_size };
	SYS(sigaltstack(&ss, NULL));
	memset(&cur, 0, sizeof cur);
	SYS(sigaltstack(NULL, &cur));
	CHECK(cur.ss_sp == as_base && cur.ss_size == as_size && cur.ss_flags == 0,
	      "sigaltstack reads back sp %p size %zu flags %d", cur.ss_sp, cur.ss_size, cur.ss_flags);
	/* SA_ONSTACK: on the alternate stack, SS_ONSTACK inside, EPERM to change it. */
	set_handler(SIGUSR1, as_handler, SA_ONSTACK);
	SYS(raise(SIGUSR1));
	CHECK(atomic_load(&as_count) == 1, "handler did not run");
	CHECK(as_inside(as_local), "SA_ONSTACK handler's local at %#lx, not in the alternate stack [%p, +%zu)",
	      (unsigned long)as_local, (void *)as_base, as_size);
	CHECK(as_flags & SS_ONSTACK, "ss_flags inside the handler %d, expected SS_ONSTACK", as_flags);
	CHECK(as_set_rc == -1 && as_set_errno == EPERM, "sigaltstack change on the alternate stack: %d (%s), expected EPERM",
	      as_set_rc, strerror(as_set_errno));
	memset(&cur, 0, sizeof cur);
	SYS(sigaltstack(NULL, &cur));
	CHECK(cur.ss_flags == 0, "after the handler ss_flags %d, expected 0", cur.ss_flags);
	/* Without SA_ONSTACK: the normal stack, changes allowed. */
	set_handler(SIGUSR2, as_handler, 0);
	SYS(raise(SIGUSR2));
	CHECK(atomic_load(&as_count) == 2, "handler did not run");
	CHECK(!as_inside(as_local), "handler without SA_ONSTACK ran on the alternate stack");
	CHECK(!(as_flags & SS_ONSTACK), "SS_ONSTACK reported off the alternate stack");
	CHECK(as_set_rc == 0, "sigaltstack off the alternate stack failed: %s", strerror(as_set_errno));
	/* Too small: ENOMEM. Bad flags: EINVAL. */
	stack_t small = { .ss_sp = as_base, .ss_flags = 0, .ss_size = 1024 };
	CHECK(sigaltstack(&small, NULL) == -1 && errno == ENOMEM, "1 KiB alternate stack not refused with ENOMEM");
	stack_t badf = { .ss_sp = as_base, .ss_flags = 0x1234, .ss_size = as_size };
	CHECK(sigaltstack(&badf, NULL) == -1 && errno == EINVAL, "bad ss_flags not refused with EINVAL");
	/* SS_DISABLE: SA_ONSTACK handlers run on the normal stack. */
	stack_t dis = { .ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0 };
	SYS(sigaltstack(&dis, NULL));
	SYS(raise(SIGUSR1));
	CHECK(atomic_load(&as_count) == 3, "handler did not run");
	CHECK(!as_inside(as_local), "handler ran on a disabled alternate stack");
	/* A thread's stack overflow is caught by a SIGSEGV handler on its alternate stack. */
	ov_alt = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ov_alt != MAP_FAILED, "mmap");
	pid_t pid = xfork();
	if (pid == 0) {
		no_core();
		set_handler(SIGSEGV, ov_segv, SA_ONSTACK);
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 128 * 1024);
		pthread_t th;
		if (pthread_create(&th, &at, ov_thread, NULL) != 0)
			_exit(46);
		pthread_join(th, NULL);
		_exit(47);
	}
	int st = reap(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
	      "stack overflow with a SIGSEGV handler on the alternate stack: %s, expected exit 42 (43: handler not on it)",
	      describe(st));
	return 0;
}

/*
 * nodefer: without SA_NODEFER the signal (and sa_mask) is blocked in its handler and a
 * re-raise waits; with SA_NODEFER the handler is re-entered at once.
 */

static _Atomic int nd_depth, nd_max, nd_count;
static volatile int nd_self_blocked[4], nd_usr2_blocked[4];

static void nd_handler(int sig)
{
	int d = atomic_fetch_add(&nd_depth, 1) + 1;
	if (d > atomic_load(&nd_max))
		atomic_store(&nd_max, d);
	int n = atomic_fetch_add(&nd_count, 1);
	if (n < 4) {
		nd_self_blocked[n] = is_blocked(sig);
		nd_usr2_blocked[n] = is_blocked(SIGUSR2);
	}
	if (n == 0)
		raise(sig);
	atomic_fetch_sub(&nd_depth, 1);
}

static int t_nodefer(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	/* Default: the signal (and sa_mask) blocked in the handler; the re-raise waits. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = nd_handler;
	sa.sa_mask = m;
	SYS(sigaction(SIGUSR1, &sa, NULL));
	SYS(raise(SIGUSR1));
	CHECK(atomic_load(&nd_count) == 2, "without SA_NODEFER: handler ran %d times, expected 2", atomic_load(&nd_count));
	CHECK(atomic_load(&nd_max) == 1, "without SA_NODEFER: handler nested (depth %d)", atomic_load(&nd_max));
	CHECK(nd_self_blocked[0] && nd_self_blocked[1], "without SA_NODEFER: the signal not blocked in its handler");
	CHECK(nd_usr2_blocked[0], "sa_mask (SIGUSR2) not blocked in the handler");
	CHECK(!is_blocked(SIGUSR1) && !is_blocked(SIGUSR2), "mask not restored after the handler");
	/* SA_NODEFER: re-entered at once. */
	atomic_store(&nd_count, 0);
	atomic_store(&nd_max, 0);
	sa.sa_flags = SA_NODEFER;
	SYS(sigaction(SIGUSR1, &sa, NULL));
	SYS(raise(SIGUSR1));
	CHECK(atomic_load(&nd_count) == 2, "SA_NODEFER: handler ran %d times, expected 2", atomic_load(&nd_count));
	CHECK(atomic_load(&nd_max) == 2, "SA_NODEFER: handler was not re-entered (max depth %d)", atomic_load(&nd_max));
	CHECK(!nd_self_blocked[0], "SA_NODEFER: the signal blocked in its handler");
	CHECK(nd_usr2_blocked[0], "SA_NODEFER: sa_mask (SIGUSR2) not blocked in the handler");
	CHECK(!is_blocked(SIGUSR1) && !is_blocked(SIGUSR2), "mask not restored after the handler");
	return 0;
}

/*
 * resethand: SA_RESETHAND: the first delivery runs the handler and resets to SIG_DFL; the
 * second kills the child.
 */

static _Atomic int *rh_shared;
static void rh_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(rh_shared, 1);
}

static int t_resethand(void)
{
	rh_shared = shared_mem(4096);
	pid_t pid = xfork();
	if (pid == 0) {
		no_core();
		set_handler(SIGUSR1, rh_handler, SA_RESETHAND);
		raise(SIGUSR1);
		if (atomic_load(rh_shared) != 1)
			_exit(2);
		struct sigaction cur;
		sigaction(SIGUSR1, NULL, &cur);
		if (cur.sa_handler != SIG_DFL)
			_exit(3);
		raise(SIGUSR1);
		sleep_ms(2000);
		_exit(4);
	}
	int st = reap(pid);
	CHECK(atomic_load(rh_shared) == 1, "handler ran %d times, expected once", atomic_load(rh_shared));
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 3), "after the first delivery sigaction does not report SIG_DFL");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "second SIGUSR1 with SA_RESETHAND: child %s, expected killed by SIGUSR1",
	      describe(st));
	return 0;
}

/*
 * fpu_preserved: xmm0-15, MXCSR, the x87 control word and stack survive a handler that
 * clobbers them, for delivery at a syscall (tkill) and at an interrupt (spin loop).
 */

static _Atomic int fp_flag;

static void fp_clobber(int sig)
{
	(void)sig;
	static const uint64_t junk[2] = { 0xdeadbeefdeadbeefULL, 0xbadc0ffee0ddf00dULL };
	static const unsigned mx = 0x3f80; /* round down, all masked */
	static const unsigned short cw = 0x0f7f;
	__asm__ volatile("fninit\n\t"
			 "fldcw %2\n\t"
			 "fldpi\n\tfldpi\n\tfld1\n\tfldl2e\n\tfldz\n\tfldpi\n\tfld1\n\tfldln2\n\t"
			 "fstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\t"
			 "fstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\t"
			 "movdqu %0, %%xmm0\n\tmovdqu %0, %%xmm1\n\tmovdqu %0, %%xmm2\n\tmovdqu %0, %%xmm3\n\t"
			 "movdqu %0, %%xmm4\n\tmovdqu %0, %%xmm5\n\tmovdqu %0, %%xmm6\n\tmovdqu %0, %%xmm7\n\t"
			 "movdqu %0, %%xmm8\n\tmovdqu %0, %%xmm9\n\tmovdqu %0, %%xmm10\n\tmovdqu %0, %%xmm11\n\t"
			 "movdqu %0, %%xmm12\n\tmovdqu %0, %%xmm13\n\tmovdqu %0, %%xmm14\n\tmovdqu %0, %%xmm15\n\t"
			 "ldmxcsr %1\n\t"
			 :
			 : "m"(junk), "m"(mx), "m"(cw)
			 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
			   "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
	atomic_store(&fp_flag, 1);
}

struct fp_state {
	uint64_t xmm[32];
	unsigned mxcsr;
	unsigned short cw;
	double st0, st1;
};

#define XMM_LOAD(n) "movdqu " #n "*16(%[in]), %%xmm" #n "\n\t"
#define XMM_STORE(n) "movdqu %%xmm" #n ", " #n "*16(%[out])\n\t"
#define XMM_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define FP_CLOBBERS                                                                                           \
	"rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
		"xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/* Loads `in`, raises the signal with tkill (synchronous delivery), stores `out`. */
static void fp_sync(const struct fp_state *in, struct fp_state *out)
{
	static const unsigned mxdef = 0x1f80;
	static const unsigned short cwdef = 0x037f;
	long rax = SYS_tkill;
	__asm__ volatile("fldcw %[cwin]\n\t"
			 "fldl %[a]\n\tfldl %[b]\n\t"
			 "ldmxcsr %[mxin]\n\t" XMM_ALL(XMM_LOAD) "syscall\n\t" XMM_ALL(XMM_STORE)
			 "stmxcsr %[mxout]\n\t"
			 "fnstcw %[cwout]\n\t"
			 "fstpl %[o0]\n\tfstpl %[o1]\n\t"
			 "ldmxcsr %[mxdef]\n\tfldcw %[cwdef]\n\t"
			 : "+a"(rax), [mxout] "=m"(out->mxcsr), [cwout] "=m"(out->cw), [o0] "=m"(out->st0),
			   [o1] "=m"(out->st1)
			 : "D"((long)my_tid()), "S"((long)SIGUSR1), [in] "r"(in->xmm), [out] "r"(out->xmm),
			   [cwin] "m"(in->cw), [a] "m"(in->st1), [b] "m"(in->st0), [mxin] "m"(in->mxcsr),
			   [mxdef] "m"(mxdef), [cwdef] "m"(cwdef)
			 : FP_CLOBBERS);
	CHECK(rax == 0, "tkill in asm returned %ld", rax);
}

/* Loads `in`, spins until the handler (sent by another thread) has run, stores `out`. */
static void fp_async(const struct fp_state *in, struct fp_state *out)
{
	static const unsigned mxdef = 0x1f80;
	static const unsigned short cwdef = 0x037f;
	__asm__ volatile("fldcw %[cwin]\n\t"
			 "fldl %[a]\n\tfldl %[b]\n\t"
			 "ldmxcsr %[mxin]\n\t" XMM_ALL(XMM_LOAD) "1:\n\tpause\n\tcmpl $0, %[flag]\n\tje 1b\n\t"
			 XMM_ALL(XMM_STORE) "stmxcsr %[mxout]\n\t"
			 "fnstcw %[cwout]\n\t"
			 "fstpl %[o0]\n\tfstpl %[o1]\n\t"
			 "ldmxcsr %[mxdef]\n\tfldcw %[cwdef]\n\t"
			 : [mxout] "=m"(out->mxcsr), [cwout] "=m"(out->cw), [o0] "=m"(out->st0), [o1] "=m"(out->st1)
			 : [in] "r"(in->xmm), [out] "r"(out->xmm), [flag] "m"(fp_flag), [cwin] "m"(in->cw),
			   [a] "m"(in->st1), [b] "m"(in->st0), [mxin] "m"(in->mxcsr), [mxdef] "m"(mxdef),
			   [cwdef] "m"(cwdef)
			 : FP_CLOBBERS);
}

static void fp_compare(const char *how, int round, const struct fp_state *in, const struct fp_state *out)
{
	for (int i = 0; i < 32; i++)
		CHECK(in->xmm[i] == out->xmm[i], "%s round %d: xmm%d %s half %#llx, expected %#llx", how, round, i / 2,
		      i % 2 ? "high" : "low", (unsigned long long)out->xmm[i], (unsigned long long)in->xmm[i]);
	CHECK((out->mxcsr & 0xffc0) == (in->mxcsr & 0xffc0), "%s round %d: MXCSR %#x, expected %#x", how, round,
	      out->mxcsr, in->mxcsr);
	CHECK((out->cw & 0x1f3f) == (in->cw & 0x1f3f), "%s round %d: x87 control word %#x, expected %#x", how, round,
	      out->cw, in->cw);
	CHECK(out->st0 == in->st0 && out->st1 == in->st1, "%s round %d: x87 st0/st1 %g/%g, expected %g/%g", how, round,
	      out->st0, out->st1, in->st0, in->st1);
}

static void fp_fill(struct fp_state *s, int round)
{
	for (int i = 0; i < 32; i++)
		s->xmm[i] = 0x0101010101010101ULL * (uint64_t)(i + 1) ^ ((uint64_t)round << 40) ^ 0x5a5a0000a5a5ULL;
	s->mxcsr = round % 2 ? 0x5f80 : 0x7f80; /* round up / toward zero, all masked */
	s->cw = round % 2 ? 0x0b7f : 0x077f;     /* round up / down, 64-bit precision */
	s->st0 = 1.25 + round;
	s->st1 = -3.5 * (round + 1);
}

static int t_fpu_preserved(void)
{
	set_handler(SIGUSR1, fp_clobber, 0);
	struct fp_state in, out;
	for (int round = 0; round < 10; round++) {
		fp_fill(&in, round);
		memset(&out, 0, sizeof out);
		atomic_store(&fp_flag, 0);
		fp_sync(&in, &out);
		CHECK(atomic_load(&fp_flag) == 1, "sync round %d: the handler did not run", round);
		fp_compare("sync (tkill)", round, &in, &out);
	}
	for (int round = 0; round < 10; round++) {
		fp_fill(&in, round + 100);
		memset(&out, 0, sizeof out);
		atomic_store(&fp_flag, 0);
		_Atomic int stop = 0;
		struct pester pe = { .target = pthread_self(), .sig = SIGUSR1, .interval_ms = 10, .stop = &stop, .count = &fp_flag,
				     .max = 1 };
		pester_start(&pe);
		fp_async(&in, &out);
		atomic_store(&stop, 1);
		PT(pthread_join(pe.thread, NULL));
		fp_compare("async (interrupted loop)", round, &in, &out);
	}
	return 0;
}

/*
 * mcontext_rip: a SIGSEGV handler moves uc_mcontext RIP past the faulting instruction and sets
 * RAX; a handler redirects RIP/RSP/RDI into another function.
 */

__asm__(".text\n"
	".globl mc_fault_func\n"
	".type mc_fault_func, @function\n"
	"mc_fault_func:\n"
	"\tmovl $7, %eax\n"
	".globl mc_fault_insn\n"
	"mc_fault_insn:\n"
	"\tmovl (%rdi), %eax\n"
	".globl mc_fault_after\n"
	"mc_fault_after:\n"
	"\tret\n"
	".size mc_fault_func, .-mc_fault_func\n");
extern int mc_fault_func(volatile int *p);
extern char mc_fault_insn[], mc_fault_after[];

static volatile uintptr_t mc_rip, mc_rdi, mc_addr;
static _Atomic int mc_count;
static sigjmp_buf mc_jb;
static volatile long mc_landed;

static void mc_segv(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	mc_rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	mc_rdi = (uintptr_t)uc->uc_mcontext.gregs[REG_RDI];
	mc_addr = (uintptr_t)si->si_addr;
	atomic_fetch_add(&mc_count, 1);
	if (mc_rip != (uintptr_t)mc_fault_insn)
		siglongjmp(mc_jb, 2); /* not where we expected: do not loop */
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)mc_fault_after;
	uc->uc_mcontext.gregs[REG_RAX] = 42;
}

static _Noreturn void mc_landing(long magic)
{
	mc_landed = magic;
	siglongjmp(mc_jb, 1);
}

static void mc_redirect(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	greg_t sp = (uc->uc_mcontext.gregs[REG_RSP] - 512) & ~(greg_t)15;
	uc->uc_mcontext.gregs[REG_RSP] = sp - 8; /* as after a call */
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)mc_landing;
	uc->uc_mcontext.gregs[REG_RDI] = 0x5eed;
}

static int t_mcontext_rip(void)
{
	set_action(SIGSEGV, mc_segv, 0, NULL);
	int r = 0;
	if (sigsetjmp(mc_jb, 1) == 0)
		r = mc_fault_func(NULL);
	else
		FAIL("SIGSEGV reported at rip %#lx, expected mc_fault_insn %p", (unsigned long)mc_rip, (void *)mc_fault_insn);
	CHECK(atomic_load(&mc_count) == 1, "SIGSEGV handler ran %d times", atomic_load(&mc_count));
	CHECK(r == 42, "after the handler moved RIP past the fault and set RAX=42 the function returned %d", r);
	CHECK(mc_rdi == 0 && mc_addr == 0, "fault context: rdi %#lx si_addr %#lx, expected 0/0", (unsigned long)mc_rdi,
	      (unsigned long)mc_addr);
	/* Again at an unmapped address: rdi and si_addr are that address. */
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page != MAP_FAILED, "mmap");
	SYS(munmap(page, 4096));
	volatile int *bad = (volatile int *)(page + 0x124);
	if (sigsetjmp(mc_jb, 1) == 0)
		r = mc_fault_func(bad);
	else
		FAIL("second SIGSEGV at rip %#lx", (unsigned long)mc_rip);
	CHECK(r == 42 && atomic_load(&mc_count) == 2, "second fault: returned %d, handler ran %d times", r,
	      atomic_load(&mc_count));
	CHECK(mc_rdi == (uintptr_t)bad && mc_addr == (uintptr_t)bad, "fault context: rdi %#lx si_addr %#lx, expected %p",
	      (unsigned long)mc_rdi, (unsigned long)mc_addr, (void *)bad);
	/* A handler that sends the thread into another function with an argument. */
	set_action(SIGUSR1, mc_redirect, 0, NULL);
	volatile int after_raise = 0;
	if (sigsetjmp(mc_jb, 1) == 0) {
		raise(SIGUSR1);
		after_raise = 1;
	}
	CHECK(mc_landed == 0x5eed, "redirected RIP did not reach mc_landing with rdi 0x5eed (got %#lx)", (unsigned long)mc_landed);
	CHECK(!after_raise, "execution continued after raise instead of at the new RIP");
	CHECK(!is_blocked(SIGUSR1), "SIGUSR1 still blocked after the redirect");
	return 0;
}

/*
 * forged_sigreturn: rt_sigreturn with forged frames (kernel CS, user-data CS, kernel or
 * non-canonical RIP, IOPL/NT/VM in RFLAGS) never yields CPL 0 or IOPL 3: SIGSEGV or a sane
 * continuation; a valid forged frame works.
 */

static char fs_stack[16384] __attribute__((aligned(16)));
static ucontext_t fs_frame[2] __attribute__((aligned(64)));

static _Noreturn void fs_cont(void)
{
	unsigned short cs;
	unsigned long fl;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(fl));
	_exit(((cs & 3) != 3 || (fl & 0x3000) != 0) ? 3 : 0);
}

static _Noreturn void fs_sigreturn(uint64_t rip, uint64_t cs, uint64_t rflags)
{
	ucontext_t *uc = &fs_frame[0];
	memset(uc, 0, sizeof *uc);
	uc->uc_stack.ss_flags = SS_DISABLE;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)rip;
	uc->uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)(fs_stack + sizeof fs_stack - 8);
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)rflags;
	uc->uc_mcontext.gregs[REG_CSGSFS] = (greg_t)(cs | (0x2bULL << 48));
	uc->uc_mcontext.fpregs = NULL;
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "mov $15, %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n\t"
			 :
			 : "r"(uc)
			 : "memory");
	__builtin_unreachable();
}

static int t_forged_sigreturn(void)
{
	struct {
		const char *what;
		uint64_t rip, cs, rflags;
		int may_continue, may_segv;
	} cases[] = {
		{ "valid user frame", (uint64_t)(uintptr_t)fs_cont, 0x33, 0x202, 1, 0 },
		{ "CS = 0x08 (kernel code)", (uint64_t)(uintptr_t)fs_cont, 0x08, 0x202, 1, 1 },
		{ "CS = 0x2b (user data)", (uint64_t)(uintptr_t)fs_cont, 0x2b, 0x202, 1, 1 },
		{ "RIP = kernel address", 0xffffffff81000000ULL, 0x33, 0x202, 0, 1 },
		{ "RIP = non-canonical", 0x0000800000000000ULL, 0x33, 0x202, 0, 1 },
		{ "RFLAGS with IOPL 3", (uint64_t)(uintptr_t)fs_cont, 0x33, 0x3202, 1, 1 },
		{ "RFLAGS with IOPL 3, NT, VM, IF clear", (uint64_t)(uintptr_t)fs_cont, 0x33, 0x27002, 1, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pid_t pid = xfork();
		if (pid == 0) {
			no_core();
			fs_sigreturn(cases[i].rip, cases[i].cs, cases[i].rflags);
		}
		int st = reap(pid);
		if (getenv("SIGTEST_VERBOSE"))
			dprintf(2, "sigtest forged_sigreturn: %s: %s\n", cases[i].what, describe(st));
		int ok = (cases[i].may_continue && WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
			 (cases[i].may_segv && WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS));
		CHECK(ok, "rt_sigreturn with %s: child %s (exit 3 = ran with CPL != 3 or IOPL != 0)", cases[i].what,
		      describe(st));
	}
	return 0;
}

/*
 * segv_longjmp: SIGSEGV si_addr/si_code (SEGV_MAPERR for NULL and unmapped, SEGV_ACCERR for a
 * PROT_READ write), recovered with siglongjmp, repeatedly (mask restored).
 */

static sigjmp_buf sj_jb;
static volatile uintptr_t sj_addr;
static volatile int sj_code, sj_signo;

static void sj_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	sj_signo = sig;
	sj_addr = (uintptr_t)si->si_addr;
	sj_code = si->si_code;
	siglongjmp(sj_jb, 1);
}

static void sj_expect(const char *what, volatile char *addr, int write, int code)
{
	sj_addr = 1;
	sj_code = 0;
	sj_signo = 0;
	if (sigsetjmp(sj_jb, 1) == 0) {
		if (write)
			*addr = 1;
		else
			(void)*addr;
		FAIL("%s did not fault", what);
	}
	CHECK(sj_signo == SIGSEGV, "%s: signal %d", what, sj_signo);
	CHECK(sj_addr == (uintptr_t)addr, "%s: si_addr %#lx, expected %p", what, (unsigned long)sj_addr, (void *)addr);
	CHECK(sj_code == code, "%s: si_code %d, expected %d", what, sj_code, code);
	CHECK(!is_blocked(SIGSEGV), "%s: SIGSEGV still blocked after siglongjmp", what);
}

static int t_segv_longjmp(void)
{
	set_action(SIGSEGV, sj_handler, 0, NULL);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED, "mmap");
	char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED, "mmap");
	SYS(munmap(gone, 4096));
	for (int i = 0; i < 3; i++) {
		sj_expect("NULL read", (volatile char *)0, 0, SEGV_MAPERR);
		sj_expect("NULL write", (volatile char *)0, 1, SEGV_MAPERR);
		sj_expect("read of an unmapped page", (volatile char *)gone + 100, 0, SEGV_MAPERR);
		sj_expect("write to a PROT_READ page", (volatile char *)ro + 8, 1, SEGV_ACCERR);
	}
	CHECK(ro[8] == 0, "the PROT_READ page changed");
	return 0;
}

/*
 * rt_queue_order: queued RT signals are all delivered, lowest number first, FIFO with their
 * si_value; SIGUSR1 x3 coalesces; sigwaitinfo drains 50 in order.
 */

#define RQ_MAX 64
static int rq_sig[RQ_MAX], rq_val[RQ_MAX];
static _Atomic int rq_n;

static void rq_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int i = atomic_fetch_add(&rq_n, 1);
	if (i < RQ_MAX) {
		rq_sig[i] = sig;
		rq_val[i] = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
	}
}

static int t_rt_queue_order(void)
{
	int a = SIGRTMIN + 1, b = SIGRTMIN + 2, c = SIGRTMIN + 3;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, a);
	sigaddset(&set, b);
	sigaddset(&set, c);
	sigaddset(&set, SIGUSR1);
	/* Each handler blocks all the test signals, so they run one after another. */
	set_action(a, rq_handler, 0, &set);
	set_action(b, rq_handler, 0, &set);
	set_action(c, rq_handler, 0, &set);
	set_action(SIGUSR1, rq_handler, 0, &set);
	PT(pthread_sigmask(SIG_BLOCK, &set, NULL));
	for (int v = 1; v <= 5; v++)
		SYS(sigqueue(getpid(), b, (union sigval){ .sival_int = v }));
	SYS(sigqueue(getpid(), c, (union sigval){ .sival_int = 20 }));
	for (int v = 10; v <= 12; v++)
		SYS(sigqueue(getpid(), a, (union sigval){ .sival_int = v }));
	for (int i = 0; i < 3; i++)
		SYS(sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 100 + i }));
	sleep_ms(20);
	CHECK(atomic_load(&rq_n) == 0, "blocked signals were delivered");
	CHECK(is_pending(a) && is_pending(b) && is_pending(c) && is_pending(SIGUSR1), "not all pending");
	PT(pthread_sigmask(SIG_UNBLOCK, &set, NULL));
	CHECK(wait_at_least(&rq_n, 10, 2000), "only %d of 10 deliveries", atomic_load(&rq_n));
	sleep_ms(50);
	int n = atomic_load(&rq_n);
	CHECK(n == 10, "%d deliveries, expected 10 (3 + 5 + 1 queued RT signals, SIGUSR1 x3 coalesced to 1)", n);
	/* Lowest signal number first; a signal's queue in FIFO order. */
	int want_sig[10] = { SIGUSR1, a, a, a, b, b, b, b, b, c };
	int want_val[10] = { 100, 10, 11, 12, 1, 2, 3, 4, 5, 20 };
	for (int i = 0; i < 10; i++)
		CHECK(rq_sig[i] == want_sig[i] && rq_val[i] == want_val[i],
		      "delivery %d: signal %d value %d, expected signal %d value %d", i, rq_sig[i], rq_val[i], want_sig[i],
		      want_val[i]);
	CHECK(!is_pending(a) && !is_pending(b) && !is_pending(c) && !is_pending(SIGUSR1), "signals still pending");
	/* sigwaitinfo takes queued RT signals one at a time, in order. */
	PT(pthread_sigmask(SIG_BLOCK, &set, NULL));
	for (int v = 0; v < 50; v++)
		SYS(sigqueue(getpid(), a, (union sigval){ .sival_int = v }));
	for (int v = 0; v < 50; v++) {
		siginfo_t si;
		int r = sigwaitinfo(&set, &si);
		CHECK(r == a && si.si_value.sival_int == v, "sigwaitinfo %d: signal %d value %d", v, r, si.si_value.sival_int);
	}
	CHECK(!is_pending(a), "still pending after taking all 50");
	return 0;
}

/*
 * stop_continue: SIGSTOP: WUNTRACED reports WIFSTOPPED and the child really stops; SIGCONT:
 * WCONTINUED, the SIGCONT handler runs; SIGTSTP stops too; then a normal exit.
 */

struct sc_shared {
	_Atomic long ticks;
	_Atomic int conts, quit;
};
static struct sc_shared *sc;
static void sc_cont(int sig)
{
	(void)sig;
	atomic_fetch_add(&sc->conts, 1);
}

static int t_stop_continue(void)
{
	sc = shared_mem(4096);
	pid_t pid = xfork();
	if (pid == 0) {
		set_handler(SIGCONT, sc_cont, SA_RESTART);
		long end = now_ms() + 20000;
		while (!atomic_load(&sc->quit) && now_ms() < end) {
			atomic_fetch_add(&sc->ticks, 1);
			sleep_ms(1);
		}
		_exit(atomic_load(&sc->quit) ? 7 : 8);
	}
	while (atomic_load(&sc->ticks) == 0)
		sleep_ms(1);
	int st = 0;
	SYS(kill(pid, SIGSTOP));
	pid_t r = wait_timeout(pid, &st, WUNTRACED, 5000);
	if (r != pid)
		kill(pid, SIGKILL);
	CHECK(r == pid, "waitpid(WUNTRACED) after SIGSTOP: %d", (int)r);
	CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "after SIGSTOP: wait status %#x, expected WIFSTOPPED with SIGSTOP", st);
	long t1 = atomic_load(&sc->ticks);
	sleep_ms(300);
	long t2 = atomic_load(&sc->ticks);
	if (t1 != t2)
		kill(pid, SIGKILL);
	CHECK(t1 == t2, "the stopped child kept running (%ld -> %ld)", t1, t2);
	/* Reported once only. */
	CHECK(waitpid(pid, &st, WUNTRACED | WNOHANG) == 0, "the stop was reported twice");
	SYS(kill(pid, SIGCONT));
	r = wait_timeout(pid, &st, WCONTINUED, 5000);
	CHECK(r == pid && WIFCONTINUED(st), "waitpid(WCONTINUED) after SIGCONT: %d status %#x", (int)r, st);
	long t3 = atomic_load(&sc->ticks);
	long end = now_ms() + 5000;
	while (atomic_load(&sc->ticks) == t3 && now_ms() < end)
		sleep_ms(1);
	CHECK(atomic_load(&sc->ticks) != t3, "the continued child does not run");
	CHECK(atomic_load(&sc->conts) == 1, "SIGCONT handler ran %d times, expected 1", atomic_load(&sc->conts));
	/* A stop signal that is caught does not stop; SIGTSTP default does. */
	SYS(kill(pid, SIGTSTP));
	r = wait_timeout(pid, &st, WUNTRACED, 5000);
	CHECK(r == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGTSTP, "after SIGTSTP: %d status %#x", (int)r, st);
	SYS(kill(pid, SIGCONT));
	atomic_store(&sc->quit, 1);
	st = reap(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child ended with %s, expected exit 7", describe(st));
	return 0;
}

/*
 * sigchld: SIGCHLD handler siginfo for an exit (CLD_EXITED, status) and a kill (CLD_KILLED);
 * SIGCHLD ignored: automatic reaping, waitpid gives ECHILD.
 */

static _Atomic int cl_count;
static volatile int cl_code, cl_status, cl_pid;

static void cl_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	cl_code = si->si_code;
	cl_status = si->si_status;
	cl_pid = si->si_pid;
	atomic_fetch_add(&cl_count, 1);
}

static int t_sigchld(void)
{
	set_action(SIGCHLD, cl_handler, SA_RESTART | SA_NOCLDSTOP, NULL);
	pid_t pid = xfork();
	if (pid == 0)
		_exit(5);
	CHECK(wait_at_least(&cl_count, 1, 5000), "SIGCHLD handler did not run for an exiting child");
	CHECK(cl_code == CLD_EXITED && cl_status == 5 && cl_pid == pid,
	      "SIGCHLD siginfo: code %d status %d pid %d, expected CLD_EXITED 5 %d", cl_code, cl_status, cl_pid, (int)pid);
	int st = reap(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5, "child: %s", describe(st));
	/* Killed child: CLD_KILLED with the signal. */
	pid = xfork();
	if (pid == 0) {
		sleep_ms(10000);
		_exit(0);
	}
	SYS(kill(pid, SIGKILL));
	CHECK(wait_at_least(&cl_count, 2, 5000), "SIGCHLD handler did not run for a killed child");
	CHECK(cl_code == CLD_KILLED && cl_status == SIGKILL && cl_pid == pid,
	      "SIGCHLD siginfo: code %d status %d pid %d, expected CLD_KILLED %d %d", cl_code, cl_status, cl_pid, SIGKILL,
	      (int)pid);
	st = reap(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child: %s", describe(st));
	/* SIGCHLD ignored: children are reaped automatically, waitpid gives ECHILD. */
	set_handler(SIGCHLD, SIG_IGN, 0);
	pid = xfork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(3);
	}
	long end = now_ms() + 5000;
	pid_t r;
	int e = 0;
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		e = errno;
		if (r != 0 || now_ms() > end)
			break;
		sleep_ms(2);
	}
	CHECK(r == -1 && e == ECHILD, "waitpid with SIGCHLD ignored: %d (%s), expected ECHILD", (int)r,
	      r == -1 ? strerror(e) : "the child was left to reap");
	CHECK(atomic_load(&cl_count) == 2, "handler ran while SIGCHLD was ignored");
	return 0;
}

/*
 * sigpipe: a write to a pipe without readers: SIGPIPE kills by default; EPIPE when ignored or
 * handled.
 */

static _Atomic int sp_count;
static void sp_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&sp_count, 1);
}

static int t_sigpipe(void)
{
	pid_t pid = xfork();
	if (pid == 0) {
		int p[2];
		if (pipe(p) != 0)
			_exit(2);
		close(p[0]);
		ssize_t r = write(p[1], "x", 1);
		(void)r;
		_exit(3);
	}
	int st = reap(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "write to a pipe without readers: child %s, expected SIGPIPE",
	      describe(st));
	int p[2];
	SYS(pipe(p));
	close(p[0]);
	set_handler(SIGPIPE, SIG_IGN, 0);
	ssize_t r = write(p[1], "x", 1);
	CHECK(r == -1 && errno == EPIPE, "write with SIGPIPE ignored: %zd (%s), expected EPIPE", r, strerror(errno));
	set_handler(SIGPIPE, sp_handler, 0);
	r = write(p[1], "x", 1);
	CHECK(r == -1 && errno == EPIPE, "write with a SIGPIPE handler: %zd (%s), expected EPIPE", r, strerror(errno));
	CHECK(atomic_load(&sp_count) == 1, "SIGPIPE handler ran %d times, expected 1", atomic_load(&sp_count));
	close(p[1]);
	return 0;
}

/*
 * alarm_pause: alarm(1) + pause() returns EINTR after the handler, about 1 s later; alarm(0)
 * cancels and returns the remaining seconds; the default action kills.
 */

static _Atomic int al_count;
static void al_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&al_count, 1);
}

static int t_alarm_pause(void)
{
	set_handler(SIGALRM, al_handler, 0);
	CHECK(alarm(10) == 0, "alarm(10) reported an earlier alarm");
	unsigned prev = alarm(0);
	CHECK(prev >= 9 && prev <= 10, "alarm(0) after alarm(10) returned %u", prev);
	long t0 = now_ms();
	alarm(1);
	int r = pause();
	int e = errno;
	long dt = now_ms() - t0;
	CHECK(r == -1 && e == EINTR, "pause: %d (%s), expected EINTR", r, strerror(e));
	CHECK(atomic_load(&al_count) == 1, "SIGALRM handler ran %d times before pause returned", atomic_load(&al_count));
	CHECK(dt >= 900 && dt < 3000, "alarm(1) fired after %ld ms", dt);
	/* A cancelled alarm does not fire. */
	alarm(1);
	alarm(0);
	sleep_ms(1300);
	CHECK(atomic_load(&al_count) == 1, "a cancelled alarm fired");
	/* Default action of SIGALRM terminates. */
	pid_t pid = xfork();
	if (pid == 0) {
		set_handler(SIGALRM, SIG_DFL, 0);
		alarm(1);
		sleep_ms(5000);
		_exit(0);
	}
	int st = reap(pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM, "alarm with the default action: child %s", describe(st));
	return 0;
}

/*
 * timer_create: a periodic CLOCK_MONOTONIC SIGEV_SIGNAL timer (SI_TIMER, si_value),
 * timer_gettime, timer_delete stops it; a one-shot timer fires once.
 */

static _Atomic int tm_count, tm_bad;
static void tm_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER || si->si_value.sival_int != 99)
		atomic_fetch_add(&tm_bad, 1);
	atomic_fetch_add(&tm_count, 1);
}

static int t_timer_create(void)
{
	int sig = SIGRTMIN + 4;
	set_action(sig, tm_handler, SA_RESTART, NULL);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = 99;
	timer_t t;
	SYS(timer_create(CLOCK_MONOTONIC, &sev, &t));
	struct itimerspec its = { .it_interval = { 0, 20 * 1000000L }, .it_value = { 0, 20 * 1000000L } };
	long t0 = now_ms();
	SYS(timer_settime(t, 0, &its, NULL));
	struct itimerspec cur;
	SYS(timer_gettime(t, &cur));
	CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 20 * 1000000L, "timer_gettime interval %ld.%09ld",
	      (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
	CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 20 * 1000000L,
	      "timer_gettime value %ld.%09ld", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	CHECK(wait_at_least(&tm_count, 5, 5000), "only %d expirations in 5 s", atomic_load(&tm_count));
	long dt = now_ms() - t0;
	CHECK(dt >= 80, "5 expirations of a 20 ms timer after %ld ms", dt);
	CHECK(atomic_load(&tm_bad) == 0, "timer signal with si_code != SI_TIMER or wrong si_value");
	SYS(timer_delete(t));
	sleep_ms(30);
	int n = atomic_load(&tm_count);
	sleep_ms(150);
	CHECK(atomic_load(&tm_count) == n, "timer kept firing after timer_delete (%d -> %d)", n, atomic_load(&tm_count));
	/* A one-shot timer fires once; disarmed reads back as zero. */
	SYS(timer_create(CLOCK_MONOTONIC, &sev, &t));
	struct itimerspec once = { .it_interval = { 0, 0 }, .it_value = { 0, 30 * 1000000L } };
	atomic_store(&tm_count, 0);
	SYS(timer_settime(t, 0, &once, NULL));
	CHECK(wait_at_least(&tm_count, 1, 3000), "one-shot timer did not fire");
	sleep_ms(100);
	CHECK(atomic_load(&tm_count) == 1, "one-shot timer fired %d times", atomic_load(&tm_count));
	SYS(timer_gettime(t, &cur));
	CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "expired one-shot timer still armed");
	SYS(timer_delete(t));
	return 0;
}

/*
 * cancel_condwait / cancel_sleep: pthread_cancel of a thread blocked in pthread_cond_wait
 * (cleanup handler runs and releases the mutex) or in sleep(): join gives PTHREAD_CANCELED.
 */

static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cc_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int cc_cleanup, cc_ready, cc_past;

static void cc_unlock(void *arg)
{
	pthread_mutex_unlock(arg);
	atomic_fetch_add(&cc_cleanup, 1);
}

static void *cc_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cc_lock);
	pthread_cleanup_push(cc_unlock, &cc_lock);
	atomic_store(&cc_ready, 1);
	for (;;)
		pthread_cond_wait(&cc_cond, &cc_lock);
	pthread_cleanup_pop(1);
	return NULL;
}

static int t_cancel_condwait(void)
{
	pthread_t th;
	PT(pthread_create(&th, NULL, cc_thread, NULL));
	CHECK(wait_at_least(&cc_ready, 1, 3000), "thread did not start");
	/* Once we hold the mutex the thread is inside pthread_cond_wait. */
	PT(pthread_mutex_lock(&cc_lock));
	PT(pthread_mutex_unlock(&cc_lock));
	sleep_ms(20);
	long t0 = now_ms();
	PT(pthread_cancel(th));
	void *ret = NULL;
	PT(pthread_join(th, &ret));
	CHECK(ret == PTHREAD_CANCELED, "join returned %p, expected PTHREAD_CANCELED", ret);
	CHECK(atomic_load(&cc_cleanup) == 1, "cleanup handler ran %d times", atomic_load(&cc_cleanup));
	CHECK(now_ms() - t0 < 5000, "cancellation took %ld ms", now_ms() - t0);
	CHECK(pthread_mutex_trylock(&cc_lock) == 0, "the mutex was not released by the cleanup handler");
	pthread_mutex_unlock(&cc_lock);
	return 0;
}

static void cs_cleanup(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cc_cleanup, 1);
}

static void *cs_thread(void *arg)
{
	(void)arg;
	pthread_cleanup_push(cs_cleanup, NULL);
	atomic_store(&cc_ready, 1);
	sleep(100);
	atomic_store(&cc_past, 1);
	pthread_cleanup_pop(0);
	return NULL;
}

static int t_cancel_sleep(void)
{
	pthread_t th;
	PT(pthread_create(&th, NULL, cs_thread, NULL));
	CHECK(wait_at_least(&cc_ready, 1, 3000), "thread did not start");
	sleep_ms(100);
	long t0 = now_ms();
	PT(pthread_cancel(th));
	void *ret = NULL;
	PT(pthread_join(th, &ret));
	long dt = now_ms() - t0;
	CHECK(ret == PTHREAD_CANCELED, "join returned %p, expected PTHREAD_CANCELED", ret);
	CHECK(atomic_load(&cc_cleanup) == 1, "cleanup handler ran %d times", atomic_load(&cc_cleanup));
	CHECK(!atomic_load(&cc_past), "sleep(100) returned instead of being cancelled");
	CHECK(dt < 5000, "cancellation of sleep took %ld ms", dt);
	return 0;
}

/*
 * fork_exec_semantics: fork keeps handlers, ignored signals, the mask and the alternate stack,
 * not the parent's pending signals; execve resets caught signals to SIG_DFL, keeps ignored ones,
 * the mask and pending signals, drops the alternate stack.
 */

static void fe_handler(int sig)
{
	(void)sig;
}

static const char *fe_check_inherited(void)
{
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	if (sa.sa_handler != fe_handler)
		return "fork: SIGUSR1 handler not inherited";
	sigaction(SIGUSR2, NULL, &sa);
	if (sa.sa_handler != SIG_IGN)
		return "fork: SIGUSR2 SIG_IGN not inherited";
	if (!is_blocked(SIGINT) || !is_blocked(SIGQUIT))
		return "fork: signal mask not inherited";
	if (is_blocked(SIGTERM))
		return "fork: SIGTERM blocked in the child";
	if (is_pending(SIGINT))
		return "fork: the parent's pending SIGINT is pending in the child";
	return NULL;
}

/* The new image of fork_exec_semantics (argv[1] == "--exec-check"). */
static int exec_check(void)
{
	g_name = "fork_exec_semantics (exec'd image)";
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	CHECK(sa.sa_handler == SIG_DFL, "after execve a caught signal (SIGUSR1) is not SIG_DFL");
	sigaction(SIGTERM, NULL, &sa);
	CHECK(sa.sa_handler == SIG_DFL, "after execve a caught signal (SIGTERM) is not SIG_DFL");
	sigaction(SIGUSR2, NULL, &sa);
	CHECK(sa.sa_handler == SIG_IGN, "after execve an ignored signal (SIGUSR2) is no longer ignored");
	CHECK(is_blocked(SIGINT) && is_blocked(SIGQUIT), "signal mask not kept across execve");
	CHECK(!is_blocked(SIGTERM), "SIGTERM blocked after execve");
	CHECK(is_pending(SIGQUIT), "pending SIGQUIT lost across execve");
	CHECK(!is_pending(SIGINT), "SIGINT pending after execve, never sent to this process");
	stack_t ss;
	sigaltstack(NULL, &ss);
	CHECK(ss.ss_flags == SS_DISABLE, "alternate stack kept across execve (flags %d)", ss.ss_flags);
	return 0;
}

static int t_fork_exec_semantics(void)
{
	set_handler(SIGUSR1, fe_handler, 0);
	set_handler(SIGTERM, fe_handler, 0);
	set_handler(SIGUSR2, SIG_IGN, 0);
	mask_op(SIG_BLOCK, SIGINT);
	mask_op(SIG_BLOCK, SIGQUIT);
	SYS(raise(SIGINT));
	CHECK(is_pending(SIGINT), "SIGINT not pending in the parent");
	static char alt[65536];
	stack_t ss = { .ss_sp = alt, .ss_flags = 0, .ss_size = sizeof alt };
	SYS(sigaltstack(&ss, NULL));
	int *res = shared_mem(4096);
	pid_t pid = xfork();
	if (pid == 0) {
		const char *bad = fe_check_inherited();
		if (bad) {
			dprintf(2, "sigtest %s: FAIL: %s\n", g_name, bad);
			_exit(10);
		}
		stack_t cur;
		sigaltstack(NULL, &cur);
		if (cur.ss_sp != alt || cur.ss_flags != 0) {
			dprintf(2, "sigtest %s: FAIL: fork: alternate stack not inherited\n", g_name);
			_exit(11);
		}
		raise(SIGQUIT); /* stays pending across execve */
		char *argv[] = { (char *)"sigtest", (char *)"--exec-check", NULL };
		char *envp[] = { NULL };
		execve(g_argv0, argv, envp);
		res[0] = errno;
		execve("/bin/sigtest", argv, envp);
		res[1] = errno;
		_exit(12);
	}
	int st = reap(pid);
	CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 12), "could not exec %s (%s) nor /bin/sigtest (%s)", g_argv0,
	      strerror(res[0]), strerror(res[1]));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s (10/11: fork inheritance, 1: exec'd image check)",
	      describe(st));
	CHECK(is_pending(SIGINT), "the parent lost its pending SIGINT");
	return 0;
}

/*
 * signal_storm: 8 threads on all CPUs send each other 16000 RT signals with rt_tgsigqueueinfo:
 * every one arrives once, in order per sender.
 */

#define ST_THREADS 8
#define ST_PER_THREAD 2000
static pid_t st_tids[ST_THREADS];
static _Atomic int st_ready, st_sent_to[ST_THREADS], st_recv[ST_THREADS], st_bad, st_eagain;
static int st_last[ST_THREADS][ST_THREADS]; /* [receiver][sender]: last sequence seen */
static _Thread_local int st_me = -1;
static pthread_barrier_t st_bar;
static int st_sig;

static void st_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int me = st_me;
	int v = si->si_value.sival_int;
	int sender = v >> 20, seq = v & 0xfffff;
	if (me < 0 || sig != st_sig || si->si_code != SI_QUEUE || sender < 0 || sender >= ST_THREADS ||
	    seq != st_last[me][sender] + 1) {
		atomic_fetch_add(&st_bad, 1);
		return;
	}
	st_last[me][sender] = seq;
	atomic_fetch_add(&st_recv[me], 1);
}

static int st_send(int to, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = st_sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), st_tids[to], st_sig, &si);
}

static void *st_thread(void *arg)
{
	int me = (int)(intptr_t)arg;
	st_me = me;
	st_tids[me] = my_tid();
	mask_op(SIG_UNBLOCK, st_sig); /* created with the main thread's mask, which blocks it */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 0) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET(me % ncpu, &cs);
		pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
	}
	atomic_fetch_add(&st_ready, 1);
	pthread_barrier_wait(&st_bar);
	int seq[ST_THREADS] = { 0 };
	for (int i = 0; i < ST_PER_THREAD; i++) {
		int to = (me + 1 + i % (ST_THREADS - 1)) % ST_THREADS;
		int v = (me << 20) | (seq[to] + 1);
		long end = now_ms() + 10000;
		while (st_send(to, v) != 0) {
			if (errno != EAGAIN || now_ms() > end) {
				dprintf(2, "sigtest signal_storm: FAIL: rt_tgsigqueueinfo: %s\n", strerror(errno));
				_exit(1);
			}
			atomic_fetch_add(&st_eagain, 1);
			sched_yield();
		}
		seq[to]++;
		atomic_fetch_add(&st_sent_to[to], 1);
	}
	pthread_barrier_wait(&st_bar);
	/* Everyone has sent: wait for what was sent to us. */
	long end = now_ms() + 20000;
	while (atomic_load(&st_recv[me]) < atomic_load(&st_sent_to[me]) && now_ms() < end)
		sched_yield();
	pthread_barrier_wait(&st_bar);
	return NULL;
}

static int t_signal_storm(void)
{
	st_sig = SIGRTMIN + 5;
	memset(st_last, 0, sizeof st_last);
	set_action(st_sig, st_handler, SA_RESTART, NULL);
	/* The main thread never takes it. */
	mask_op(SIG_BLOCK, st_sig);
	PT(pthread_barrier_init(&st_bar, NULL, ST_THREADS));
	pthread_t th[ST_THREADS];
	for (int i = 0; i < ST_THREADS; i++) {
		PT(pthread_create(&th[i], NULL, st_thread, (void *)(intptr_t)i));
	}
	for (int i = 0; i < ST_THREADS; i++)
		PT(pthread_join(th[i], NULL));
	CHECK(atomic_load(&st_bad) == 0, "%d deliveries out of order, duplicated or malformed", atomic_load(&st_bad));
	int total = 0;
	for (int i = 0; i < ST_THREADS; i++) {
		CHECK(atomic_load(&st_recv[i]) == atomic_load(&st_sent_to[i]), "thread %d received %d of the %d sent to it", i,
		      atomic_load(&st_recv[i]), atomic_load(&st_sent_to[i]));
		total += atomic_load(&st_recv[i]);
	}
	CHECK(total == ST_THREADS * ST_PER_THREAD, "%d signals in all, expected %d", total, ST_THREADS * ST_PER_THREAD);
	CHECK(!is_pending(st_sig), "signal still pending for the process");
	return 0;
}

/*
 * kill_pgrp: kill(-pgid) reaches every process of a setpgid group; kill(0) from inside reaches
 * the group only; an empty group is ESRCH.
 */

#define KP_KIDS 3
struct kp_shared {
	_Atomic int ready, go2;
	_Atomic int got1[KP_KIDS + 1], got2[KP_KIDS + 1];
	_Atomic int parent_got2;
	_Atomic int pgid_ok;
};
static struct kp_shared *kp;
static int kp_idx;
static void kp_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&kp->got1[kp_idx], 1);
}
static void kp_usr2(int sig)
{
	(void)sig;
	if (kp_idx < 0)
		atomic_fetch_add(&kp->parent_got2, 1);
	else
		atomic_fetch_add(&kp->got2[kp_idx], 1);
}

static int kp_wait_flag(_Atomic int *p)
{
	long end = now_ms() + 10000;
	while (!atomic_load(p) && now_ms() < end)
		sleep_ms(2);
	return atomic_load(p);
}

static int t_kill_pgrp(void)
{
	kp = shared_mem(4096);
	kp_idx = -1;
	set_handler(SIGUSR2, kp_usr2, 0);
	set_handler(SIGUSR1, SIG_IGN, 0); /* the test process is not in the group */
	pid_t leader = xfork();
	if (leader == 0) {
		if (setpgid(0, 0) != 0)
			_exit(20);
		kp_idx = 0;
		pid_t kids[KP_KIDS];
		set_handler(SIGUSR1, kp_usr1, 0);
		for (int i = 0; i < KP_KIDS; i++) {
			kids[i] = fork();
			if (kids[i] < 0)
				_exit(21);
			if (kids[i] == 0) {
				kp_idx = i + 1;
				if (getpgid(0) == getppid())
					atomic_fetch_add(&kp->pgid_ok, 1);
				atomic_fetch_add(&kp->ready, 1);
				int ok = kp_wait_flag(&kp->got1[kp_idx]) && kp_wait_flag(&kp->got2[kp_idx]);
				_exit(ok ? 0 : 1);
			}
		}
		atomic_fetch_add(&kp->ready, 1);
		if (!kp_wait_flag(&kp->got1[0]) || !kp_wait_flag(&kp->go2))
			_exit(22);
		if (kill(0, SIGUSR2) != 0)
			_exit(23);
		if (!kp_wait_flag(&kp->got2[0]))
			_exit(24);
		int bad = 0;
		for (int i = 0; i < KP_KIDS; i++) {
			int st = 0;
			if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				bad = 1;
		}
		_exit(bad ? 25 : 0);
	}
	long end = now_ms() + 10000;
	while (atomic_load(&kp->ready) < KP_KIDS + 1 && now_ms() < end)
		sleep_ms(2);
	CHECK(atomic_load(&kp->ready) == KP_KIDS + 1, "group members did not start");
	CHECK(getpgid(leader) == leader, "setpgid(0, 0) in the leader: getpgid %d", (int)getpgid(leader));
	CHECK(atomic_load(&kp->pgid_ok) == KP_KIDS, "children not in the leader's group");
	SYS(kill(-leader, SIGUSR1));
	for (int i = 0; i <= KP_KIDS; i++)
		CHECK(kp_wait_flag(&kp->got1[i]), "kill(-pgid, SIGUSR1) did not reach group member %d", i);
	atomic_store(&kp->go2, 1);
	int st = reap(leader);
	for (int i = 0; i <= KP_KIDS; i++)
		CHECK(atomic_load(&kp->got2[i]) == 1, "kill(0, SIGUSR2) reached group member %d %d times", i,
		      atomic_load(&kp->got2[i]));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "group leader: %s", describe(st));
	sleep_ms(50);
	CHECK(atomic_load(&kp->parent_got2) == 0, "kill(0) in another group reached the test process");
	/* The group is gone: ESRCH. */
	CHECK(kill(-leader, SIGUSR1) == -1 && errno == ESRCH, "kill of an empty process group: not ESRCH");
	return 0;
}

/*
 * sigsuspend: sigsuspend returns EINTR at once for a pending signal (atomic), is woken by a
 * later one, runs the handler with the suspend mask, restores the mask.
 */

static _Atomic int ss_count, ss_usr2;
static volatile int ss_usr1_blocked_inside, ss_usr2_blocked_inside;
static void ss_handler(int sig)
{
	if (sig == SIGUSR2) {
		atomic_fetch_add(&ss_usr2, 1);
		return;
	}
	ss_usr1_blocked_inside = is_blocked(SIGUSR1);
	ss_usr2_blocked_inside = is_blocked(SIGUSR2);
	atomic_fetch_add(&ss_count, 1);
}

static void *ss_sender(void *arg)
{
	int sig = (int)(intptr_t)arg;
	sleep_ms(150);
	kill(getpid(), sig);
	return NULL;
}

static int t_sigsuspend(void)
{
	set_handler(SIGUSR1, ss_handler, 0);
	set_handler(SIGUSR2, ss_handler, 0);
	sigset_t block, empty, only_usr1;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigemptyset(&empty);
	sigemptyset(&only_usr1);
	sigaddset(&only_usr1, SIGUSR1);
	PT(pthread_sigmask(SIG_BLOCK, &block, NULL));
	/* Atomic: a signal already pending ends it at once. */
	SYS(raise(SIGUSR1));
	long t0 = now_ms();
	int r = sigsuspend(&empty);
	int e = errno;
	CHECK(r == -1 && e == EINTR, "sigsuspend with a pending signal: %d (%s)", r, strerror(e));
	CHECK(atomic_load(&ss_count) == 1, "handler ran %d times", atomic_load(&ss_count));
	CHECK(now_ms() - t0 < 1000, "sigsuspend with a pending signal took %ld ms", now_ms() - t0);
	CHECK(is_blocked(SIGUSR1) && is_blocked(SIGUSR2), "mask not restored after sigsuspend");
	/* Woken by a signal sent later by another thread (which blocks it too). */
	pthread_t th;
	PT(pthread_create(&th, NULL, ss_sender, (void *)(intptr_t)SIGUSR1));
	r = sigsuspend(&empty);
	e = errno;
	PT(pthread_join(th, NULL));
	CHECK(r == -1 && e == EINTR, "sigsuspend: %d (%s)", r, strerror(e));
	CHECK(atomic_load(&ss_count) == 2, "handler ran %d times", atomic_load(&ss_count));
	CHECK(ss_usr1_blocked_inside && !ss_usr2_blocked_inside,
	      "mask inside the handler: SIGUSR1 %d SIGUSR2 %d, expected the suspend mask plus the signal",
	      ss_usr1_blocked_inside, ss_usr2_blocked_inside);
	CHECK(is_blocked(SIGUSR1) && is_blocked(SIGUSR2), "mask not restored after sigsuspend");
	/* The suspend mask still blocks SIGUSR1: it stays pending; SIGUSR2 ends the wait. */
	SYS(raise(SIGUSR1));
	PT(pthread_create(&th, NULL, ss_sender, (void *)(intptr_t)SIGUSR2));
	r = sigsuspend(&only_usr1);
	e = errno;
	PT(pthread_join(th, NULL));
	CHECK(r == -1 && e == EINTR, "sigsuspend(only SIGUSR1 blocked): %d (%s)", r, strerror(e));
	CHECK(atomic_load(&ss_usr2) == 1 && atomic_load(&ss_count) == 2,
	      "sigsuspend(only SIGUSR1 blocked): USR2 handler %d USR1 handler %d", atomic_load(&ss_usr2),
	      atomic_load(&ss_count));
	CHECK(is_pending(SIGUSR1), "SIGUSR1 (blocked by the suspend mask) not pending any more");
	PT(pthread_sigmask(SIG_UNBLOCK, &block, NULL));
	CHECK(atomic_load(&ss_count) == 3, "pending SIGUSR1 not delivered on unblock");
	return 0;
}

/* ---- pi_mutex (PI futexes, which musl's PTHREAD_PRIO_INHERIT mutexes use) --------- */

#define PI_THREADS 4
#define PI_ROUNDS 3000
static pthread_mutex_t pi_m;
static long pi_count;

static void *pi_worker(void *a)
{
	(void)a;
	for (int i = 0; i < PI_ROUNDS; i++) {
		if (pthread_mutex_lock(&pi_m) != 0)
			return (void *)1;
		long c = pi_count;
		if ((i & 63) == 0)
			sched_yield(); /* hold it across a switch now and then: contention */
		pi_count = c + 1;
		pthread_mutex_unlock(&pi_m);
	}
	return NULL;
}

static void *pi_die_holding(void *a)
{
	pthread_mutex_lock((pthread_mutex_t *)a);
	return NULL; /* exits with the robust mutex held */
}

static int t_pi_mutex(void)
{
	pthread_mutexattr_t at;
	PT(pthread_mutexattr_init(&at));
	PT(pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT));
	PT(pthread_mutex_init(&pi_m, &at));
	/* Exclusion under contention: no increment lost. */
	pthread_t th[PI_THREADS];
	for (int i = 0; i < PI_THREADS; i++)
		PT(pthread_create(&th[i], NULL, pi_worker, NULL));
	for (int i = 0; i < PI_THREADS; i++) {
		void *r;
		PT(pthread_join(th[i], &r));
		CHECK(r == NULL, "pthread_mutex_lock failed in a worker");
	}
	CHECK(pi_count == (long)PI_THREADS * PI_ROUNDS, "count %ld, expected %d", pi_count, PI_THREADS * PI_ROUNDS);
	/* Relocking a PI mutex we hold (error-checking): EDEADLK from the kernel. */
	pthread_mutex_t em;
	pthread_mutexattr_t ea;
	PT(pthread_mutexattr_init(&ea));
	PT(pthread_mutexattr_setprotocol(&ea, PTHREAD_PRIO_INHERIT));
	PT(pthread_mutexattr_settype(&ea, PTHREAD_MUTEX_ERRORCHECK));
	PT(pthread_mutex_init(&em, &ea));
	PT(pthread_mutex_lock(&em));
	int e = pthread_mutex_lock(&em);
	CHECK(e == EDEADLK, "relock of an error-checking PI mutex: %d, expected EDEADLK", e);
	e = pthread_mutex_trylock(&em);
	CHECK(e == EBUSY || e == EDEADLK, "trylock of a held PI mutex: %d", e);
	PT(pthread_mutex_unlock(&em));
	/* Robust + PI: the owner dies holding it; the next locker gets EOWNERDEAD. */
	pthread_mutex_t rm;
	pthread_mutexattr_t ra;
	PT(pthread_mutexattr_init(&ra));
	PT(pthread_mutexattr_setprotocol(&ra, PTHREAD_PRIO_INHERIT));
	PT(pthread_mutexattr_setrobust(&ra, PTHREAD_MUTEX_ROBUST));
	PT(pthread_mutex_init(&rm, &ra));
	pthread_t d;
	PT(pthread_create(&d, NULL, pi_die_holding, &rm));
	PT(pthread_join(d, NULL));
	e = pthread_mutex_lock(&rm);
	CHECK(e == EOWNERDEAD, "lock after the owner died: %d, expected EOWNERDEAD", e);
	PT(pthread_mutex_consistent(&rm));
	PT(pthread_mutex_unlock(&rm));
	PT(pthread_mutex_lock(&rm));
	PT(pthread_mutex_unlock(&rm));
	return 0;
}

/* ---- table and supervisor --------------------------------------------------------- */

struct subtest {
	const char *name;
	int (*fn)(void);
	int timeout_s;
};

static const struct subtest TESTS[] = {
	{ "handler_siginfo", t_handler_siginfo, 30 },
	{ "thread_routing", t_thread_routing, 60 },
	{ "pending_unblock", t_pending_unblock, 30 },
	{ "sigwait", t_sigwait, 30 },
	{ "eintr_pipe", t_eintr_pipe, 60 },
	{ "eintr_futex", t_eintr_futex, 60 },
	{ "eintr_nanosleep", t_eintr_nanosleep, 60 },
	{ "sigaltstack", t_sigaltstack, 30 },
	{ "nodefer", t_nodefer, 30 },
	{ "resethand", t_resethand, 30 },
	{ "fpu_preserved", t_fpu_preserved, 60 },
	{ "mcontext_rip", t_mcontext_rip, 30 },
	{ "forged_sigreturn", t_forged_sigreturn, 60 },
	{ "segv_longjmp", t_segv_longjmp, 30 },
	{ "rt_queue_order", t_rt_queue_order, 30 },
	{ "stop_continue", t_stop_continue, 60 },
	{ "sigchld", t_sigchld, 30 },
	{ "sigpipe", t_sigpipe, 30 },
	{ "alarm_pause", t_alarm_pause, 30 },
	{ "timer_create", t_timer_create, 30 },
	{ "cancel_condwait", t_cancel_condwait, 30 },
	{ "cancel_sleep", t_cancel_sleep, 30 },
	{ "fork_exec_semantics", t_fork_exec_semantics, 30 },
	{ "signal_storm", t_signal_storm, 120 },
	{ "kill_pgrp", t_kill_pgrp, 60 },
	{ "sigsuspend", t_sigsuspend, 30 },
	{ "pi_mutex", t_pi_mutex, 60 },
};
#define NTESTS (sizeof TESTS / sizeof TESTS[0])

int main(int argc, char **argv)
{
	if (argc > 0 && argv[0] && argv[0][0])
		g_argv0 = argv[0];
	if (argc < 2) {
		dprintf(2, "usage: sigtest --list | sigtest NAME\n");
		return 2;
	}
	if (strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NTESTS; i++)
			printf("%s\n", TESTS[i].name);
		return 0;
	}
	if (strcmp(argv[1], "--exec-check") == 0)
		return exec_check();
	const struct subtest *t = NULL;
	for (size_t i = 0; i < NTESTS; i++)
		if (strcmp(argv[1], TESTS[i].name) == 0)
			t = &TESTS[i];
	if (!t) {
		dprintf(2, "sigtest: unknown subtest '%s' (sigtest --list)\n", argv[1]);
		return 2;
	}
	g_name = t->name;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == -1) {
		dprintf(2, "sigtest %s: FAIL: fork: %s\n", t->name, strerror(errno));
		return 1;
	}
	if (pid == 0)
		_exit(t->fn());
	int st = 0;
	pid_t r = wait_timeout(pid, &st, 0, t->timeout_s * 1000L);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		dprintf(2, "sigtest %s: FAIL: timed out after %d s\n", t->name, t->timeout_s);
		return 1;
	}
	if (r != pid) {
		dprintf(2, "sigtest %s: FAIL: waitpid: %s\n", t->name, strerror(errno));
		return 1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		printf("sigtest %s: ok\n", t->name);
		return 0;
	}
	if (WIFSIGNALED(st))
		dprintf(2, "sigtest %s: FAIL: test process killed by signal %d (%s)\n", t->name, WTERMSIG(st),
			strsignal(WTERMSIG(st)));
	/* An exit status != 0 has printed its reason already. */
	return 1;
}

/*
 * sigbench: signal benchmarks, plain POSIX + pthreads (the same static binary on
 * Weft and Linux). Output like ubench: `bench <name> <value> ns/op`, the median
 * of 5 batches timed with CLOCK_MONOTONIC, each sized to take about 100 ms; then
 * the seed's goal line (never asserted).
 *
 *   signal_tkill_self       raise(SIGUSR1) with a handler: kill + frame + sigreturn
 *   signal_cross_thread     pthread_kill to a thread in sigsuspend on another CPU,
 *                           and back the same way: one round trip
 *   signal_sigwait_pingpong two threads bouncing SIGUSR1 with sigwait: round trip
 *   sigprocmask_roundtrip   block + unblock one signal
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5
#define BATCH_NS 100000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median ns/op of `fn(n)`, which performs n operations. */
static double measure(void (*fn)(long))
{
	long n = 1;
	for (;;) {
		uint64_t t = now_ns();
		fn(n);
		uint64_t d = now_ns() - t;
		if (d > BATCH_NS / 10 || n >= (1l << 26))
			break;
		n *= 4;
	}
	uint64_t t = now_ns();
	fn(n);
	uint64_t d = now_ns() - t;
	if (d > 0)
		n = (long)((double)n * (double)BATCH_NS / (double)d) + 1;
	double s[BATCHES];
	for (int i = 0; i < BATCHES; i++) {
		t = now_ns();
		fn(n);
		s[i] = (double)(now_ns() - t) / (double)n;
	}
	qsort(s, BATCHES, sizeof s[0], cmp);
	return s[BATCHES / 2];
}

static volatile sig_atomic_t hits;
static void on_usr1(int sig)
{
	(void)sig;
	hits++;
}

static void tkill_self(long n)
{
	for (long i = 0; i < n; i++)
		raise(SIGUSR1);
}

static void procmask(long n)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	for (long i = 0; i < n; i++) {
		pthread_sigmask(SIG_BLOCK, &s, NULL);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	}
}

/* ---- cross-thread: sigsuspend ping-pong ---- */
static pthread_t main_th, peer_th;
static atomic_long peer_rounds;
static atomic_int peer_stop;

static void pin(int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 2)
		return;
	cpu_set_t cs;
	CPU_ZERO(&cs);
	CPU_SET(cpu % ncpu, &cs);
	pthread_setaffinity_np(pthread_self(), sizeof cs, &cs);
}

static void *suspend_peer(void *a)
{
	(void)a;
	pin(1);
	sigset_t empty;
	sigemptyset(&empty);
	while (!atomic_load(&peer_stop)) {
		sigsuspend(&empty);
		pthread_kill(main_th, SIGUSR1);
	}
	return NULL;
}

static void cross_thread(long n)
{
	sigset_t empty;
	sigemptyset(&empty);
	for (long i = 0; i < n; i++) {
		pthread_kill(peer_th, SIGUSR1);
		sigsuspend(&empty);
	}
}

/* ---- sigwait ping-pong ---- */
static void *sigwait_peer(void *a)
{
	(void)a;
	pin(1);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	int sig;
	while (!atomic_load(&peer_stop)) {
		sigwait(&s, &sig);
		pthread_kill(main_th, SIGUSR1);
	}
	return NULL;
}

static void sigwait_pingpong(long n)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	int sig;
	for (long i = 0; i < n; i++) {
		pthread_kill(peer_th, SIGUSR1);
		sigwait(&s, &sig);
	}
}

static void stop_peer(void)
{
	atomic_store(&peer_stop, 1);
	pthread_kill(peer_th, SIGUSR1);
	pthread_join(peer_th, NULL);
	atomic_store(&peer_stop, 0);
}

static int wants(const char *filter, const char *name)
{
	return !filter || strstr(name, filter);
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	double tk = -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	main_th = pthread_self();
	pin(0);
	if (wants(filter, "signal_tkill_self")) {
		tk = measure(tkill_self);
		printf("bench signal_tkill_self %.1f ns/op\n", tk);
	}
	if (wants(filter, "sigprocmask_roundtrip"))
		printf("bench sigprocmask_roundtrip %.1f ns/op\n", measure(procmask));
	/* Both threads block SIGUSR1 outside sigsuspend/sigwait, so it is only taken there. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	if (wants(filter, "signal_cross_thread")) {
		pthread_create(&peer_th, NULL, suspend_peer, NULL);
		printf("bench signal_cross_thread %.1f ns/op\n", measure(cross_thread));
		stop_peer();
	}
	if (wants(filter, "signal_sigwait_pingpong")) {
		pthread_create(&peer_th, NULL, sigwait_peer, NULL);
		printf("bench signal_sigwait_pingpong %.1f ns/op\n", measure(sigwait_pingpong));
		stop_peer();
	}
	if (tk >= 0)
		printf("goal signal_delivery < 5000 ns: %.1f ns (signal_tkill_self)\n", tk);
	(void)peer_rounds;
	return 0;
}

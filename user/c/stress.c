/* Thread churn regression tests (static musl, pthreads only; also runs on Linux).
 *
 *   stress exit_storm   32 threads released at once from a condition variable exit
 *                       while main joins them, 200 rounds (the address-space lock
 *                       convoy of thread exit vs. stack munmap once hung this).
 *   stress create_loop  100 000 threads created and joined one after another: dead
 *                       threads must be freed as they die (this once failed with
 *                       EAGAIN/ENOMEM after ~13 000 at one CPU).
 *
 * Exit status 0 and "stress <name>: ok" on success; a message and status 1 otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int round_no;
static int ran;

static void *storm_thread(void *arg)
{
	int want = (int)(long)arg;
	pthread_mutex_lock(&mu);
	while (round_no != want)
		pthread_cond_wait(&cv, &mu);
	ran++;
	pthread_mutex_unlock(&mu);
	return (void *)(long)(want + 1);
}

static int exit_storm(void)
{
	enum { THREADS = 32, ROUNDS = 200 };
	for (int r = 1; r <= ROUNDS; r++) {
		pthread_t t[THREADS];
		for (int i = 0; i < THREADS; i++) {
			int e = pthread_create(&t[i], NULL, storm_thread, (void *)(long)r);
			if (e) {
				fprintf(stderr, "round %d: pthread_create %d: %s\n", r, i, strerror(e));
				return 1;
			}
		}
		pthread_mutex_lock(&mu);
		ran = 0;
		round_no = r;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		for (int i = 0; i < THREADS; i++) {
			void *v;
			int e = pthread_join(t[i], &v);
			if (e || (long)v != r + 1) {
				fprintf(stderr, "round %d: join %d: %d value %ld\n", r, i, e, (long)v);
				return 1;
			}
		}
		if (ran != THREADS) {
			fprintf(stderr, "round %d: %d of %d threads ran\n", r, ran, THREADS);
			return 1;
		}
	}
	return 0;
}

static void *nop_thread(void *arg)
{
	return arg;
}

static int create_loop(void)
{
	enum { N = 100000 };
	for (long i = 0; i < N; i++) {
		pthread_t t;
		void *v;
		int e = pthread_create(&t, NULL, nop_thread, (void *)i);
		if (e) {
			fprintf(stderr, "thread %ld: pthread_create: %s\n", i, strerror(e));
			return 1;
		}
		e = pthread_join(t, &v);
		if (e || (long)v != i) {
			fprintf(stderr, "thread %ld: join %d value %ld\n", i, e, (long)v);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stress exit_storm|create_loop\n");
		return 2;
	}
	int r;
	if (!strcmp(argv[1], "exit_storm"))
		r = exit_storm();
	else if (!strcmp(argv[1], "create_loop"))
		r = create_loop();
	else {
		fprintf(stderr, "stress: unknown test %s\n", argv[1]);
		return 2;
	}
	printf("stress %s: %s\n", argv[1], r ? "FAILED" : "ok");
	return r;
}

/*
 * pthread_smoke: 8 pthreads each add 1 to a mutex-protected counter 10000 times;
 * then a condition variable broadcast releases 8 waiters. Prints "pthread_smoke: ok"
 * and exits 0 on success.
 */
#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>

#define THREADS 8
#define ROUNDS 10000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int waiting;
static int go;
static int woken;

static void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	waiting++;
	while (!go)
		pthread_cond_wait(&cond, &lock);
	woken++;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int fail(const char *what, int err)
{
	printf("pthread_smoke: FAILED: %s (%d)\n", what, err);
	return 1;
}

int main(void)
{
	pthread_t t[THREADS];
	int err;

	for (int i = 0; i < THREADS; i++)
		if ((err = pthread_create(&t[i], NULL, adder, NULL)))
			return fail("pthread_create", err);
	for (int i = 0; i < THREADS; i++)
		if ((err = pthread_join(t[i], NULL)))
			return fail("pthread_join", err);
	if (counter != (long)THREADS * ROUNDS) {
		printf("pthread_smoke: FAILED: counter %ld, expected %ld\n", counter,
		       (long)THREADS * ROUNDS);
		return 1;
	}

	for (int i = 0; i < THREADS; i++)
		if ((err = pthread_create(&t[i], NULL, waiter, NULL)))
			return fail("pthread_create", err);
	/* Wait until every waiter is inside pthread_cond_wait (or about to be). */
	for (;;) {
		pthread_mutex_lock(&lock);
		int n = waiting;
		pthread_mutex_unlock(&lock);
		if (n == THREADS)
			break;
		sched_yield();
	}
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < THREADS; i++)
		if ((err = pthread_join(t[i], NULL)))
			return fail("pthread_join", err);
	if (woken != THREADS) {
		printf("pthread_smoke: FAILED: %d of %d waiters woken\n", woken, THREADS);
		return 1;
	}
	printf("pthread_smoke: ok (counter %ld, %d waiters woken by broadcast)\n", counter, woken);
	return 0;
}

/* hello: the smallest static musl program. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("hello from a static musl C program (pid %d, argv[0] %s)\n",
	       (int)getpid(), argc > 0 ? argv[0] : "?");
	return 0;
}

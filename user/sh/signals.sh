# signals.sh: busybox sh (ash) job control, traps, signals and process plumbing.
# Run as `busybox sh /etc/tests/signals.sh` (on the host:
# `build/busybox/bin/busybox sh user/sh/signals.sh`). Prints one line per failed
# check and `ALL OK` at the end only if every check held; exits 0 then, 1 otherwise.
# Every wait is bounded (a background `sleep` is killed if it outlives its use).

fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "signals.sh: FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}

# ---- exit statuses ---------------------------------------------------------------
true
check "true gives 0" [ $? -eq 0 ]
false
check "false gives 1" [ $? -eq 1 ]
(exit 42)
check "(exit 42) gives 42" [ $? -eq 42 ]
sh -c 'exit 7'
check "sh -c 'exit 7' gives 7" [ $? -eq 7 ]
! false
check "! false gives 0" [ $? -eq 0 ]
nonexistent_command_xyz 2>/dev/null
check "a missing command gives 127" [ $? -eq 127 ]

# ---- subshells and command substitution -------------------------------------------
x=outer
(x=inner; [ "$x" = inner ]) || bad "subshell assignment"
check "a subshell does not change the parent's variables" [ "$x" = outer ]
pid_sub=$(sh -c 'echo $PPID')
check "\$(...) runs a command (got '$pid_sub')" [ -n "$pid_sub" ]
v=$(echo hello; echo world)
check "\$(...) captures all output" [ "$v" = "hello
world" ]
n=$(echo $(echo $(echo nested)))
check "nested \$(...)" [ "$n" = nested ]
sub_pid=$(sh -c 'echo $$')
check "a child shell has another pid" [ "$sub_pid" != "$$" ]
r=$( (exit 3); echo $?)
check "status inside \$(...)" [ "$r" = 3 ]

# ---- pipelines --------------------------------------------------------------------
p=$(printf 'b\na\nc\n' | sort | head -n 1)
check "pipeline sort | head gives 'a' (got '$p')" [ "$p" = a ]
cnt=$(seq 1 1000 | wc -l)
check "seq 1 1000 | wc -l gives 1000 (got '$cnt')" [ "$cnt" -eq 1000 ]
sum=$(seq 1 100 | while read i; do s=$(( ${s:-0} + i )); echo $s; done | tail -n 1)
check "pipeline with a while loop sums to 5050 (got '$sum')" [ "$sum" = 5050 ]
true | false
check "a pipeline's status is the last command's" [ $? -eq 1 ]
false | true
check "false | true gives 0" [ $? -eq 0 ]
# A writer whose reader goes away dies of SIGPIPE (status 141) instead of hanging.
big=$( (yes | head -n 5 >/dev/null; echo done) )
check "yes | head ends (SIGPIPE kills yes)" [ "$big" = done ]

# ---- background jobs and wait -----------------------------------------------------
sh -c 'sleep 0.2; exit 5' &
bg=$!
check "\$! is set for a background job" [ -n "$bg" ]
wait $bg
check "wait PID gives the job's status 5" [ $? -eq 5 ]
sh -c 'exit 3' &
a=$!
sh -c 'exit 4' &
b=$!
wait $a
sa=$?
wait $b
sb=$?
check "wait for two jobs: 3 and 4 (got $sa $sb)" [ $sa -eq 3 ] && [ $sb -eq 4 ]
sleep 0.1 &
sleep 0.1 &
wait
check "wait with no arguments waits for all and gives 0" [ $? -eq 0 ]
# Background output reaches a file; wait makes it visible.
tmp=/tmp/signals.sh.$$
mkdir -p /tmp 2>/dev/null
(echo from-background > "$tmp") &
wait $!
check "background job's output" [ "$(cat "$tmp" 2>/dev/null)" = from-background ]
rm -f "$tmp"

# ---- kill %1 of a background sleep -------------------------------------------------
sleep 100 &
sp=$!
kill %1
wait $sp
st=$?
check "kill %1 of sleep 100: wait gives 128+SIGTERM=143 (got $st)" [ $st -eq 143 ]
kill -0 $sp 2>/dev/null
check "the killed sleep is gone" [ $? -ne 0 ]
sleep 100 &
sp=$!
kill -KILL $sp
wait $sp
st=$?
check "kill -KILL: wait gives 137 (got $st)" [ $st -eq 137 ]
sleep 100 &
sp=$!
kill -USR1 $sp
wait $sp
st=$?
check "kill -USR1 of sleep: wait gives 138 (got $st)" [ $st -eq 138 ]

# ---- trap ... USR1 + kill -USR1 $$ -----------------------------------------------
got=0
trap 'got=$((got + 1))' USR1
kill -USR1 $$
check "trap USR1 ran after kill -USR1 \$\$ (got=$got)" [ $got -eq 1 ]
kill -USR1 $$
kill -USR1 $$
check "trap USR1 ran three times in all (got=$got)" [ $got -eq 3 ]
# A trap interrupts wait: a child signals us while we wait for a long job.
got=0
sleep 100 &
long=$!
sh -c "sleep 0.3; kill -USR1 $$" &
killer=$!
wait $long
st=$?
check "wait interrupted by a trapped signal returns >128 (got $st)" [ $st -gt 128 ]
check "the USR1 trap ran during wait (got=$got)" [ $got -eq 1 ]
kill $long 2>/dev/null
wait $long 2>/dev/null
wait $killer
# A subshell resets traps to default: USR1 kills it.
( sh -c 'kill -USR1 $PPID'; sleep 5; exit 0 ) &
wait $!
st=$?
check "a trap is not inherited by a subshell (status $st, expected 138)" [ $st -eq 138 ]
# trap - restores the default; an ignored signal stays ignored in children.
trap - USR1
trap '' USR2
sh -c 'kill -USR2 $$; exit 9'
st=$?
check "an ignored USR2 stays ignored in a child (status $st, expected 9)" [ $st -eq 9 ]
trap - USR2
# EXIT trap of a subshell.
out=$( (trap 'echo bye' EXIT; echo hi) )
check "EXIT trap in a subshell ('$out')" [ "$out" = "hi
bye" ]
# TERM trap of a child shell.
out=$(sh -c 'trap "echo caught; exit 0" TERM; kill -TERM $$; sleep 5; echo missed')
check "a TERM trap in a child shell ('$out')" [ "$out" = caught ]

# ---- done -------------------------------------------------------------------------
if [ $fails -eq 0 ]; then
	echo "ALL OK ($checks checks)"
	exit 0
fi
echo "signals.sh: $fails of $checks checks failed"
exit 1

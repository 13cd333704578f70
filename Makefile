# Weft: build, run and test. `make help` lists the targets and variables.
#
# Artifacts (docs/conventions.md):
#   target/x86_64-unknown-none/release/weft-kernel   the kernel
#   target/x86_64-unknown-none/release/weft-loader   the direct-boot loader (Multiboot1)
#   build/initramfs.tar                               the initramfs (ustar)
# QEMU is driven by tools/runner (weft-runner), which streams the serial output,
# judges test runs and writes logs to build/logs/.

# ---- knobs ---------------------------------------------------------------------
SMP        ?= 4
MEM        ?= 256M
ICOUNT     ?= 0
# RUN: program (and arguments) for init to start, passed as `RUN=<...>` at the
# end of the kernel command line (user space comes in later issues).
RUN        ?=
# EXTRA: a host directory laid over the initramfs root (EXTRA=/tmp/x RUN=/prog
# runs the static ELF /tmp/x/prog). KARGS: extra kernel command-line words.
EXTRA      ?=
KARGS      ?=
# TEST: run only the in-guest tests whose name contains this (cmdline `test=<TEST>`).
TEST       ?=
# LIMINE_DIR: a Limine binary release directory for `make iso` / `make usb`.
LIMINE_DIR ?=
# QEMU_ARGS: extra QEMU arguments, e.g. QEMU_ARGS="-d int,cpu_reset -D build/qemu.log".
QEMU_ARGS  ?=
# UEFI=1: `make run-iso` / `run-usb` boot through OVMF instead of SeaBIOS.
UEFI       ?= 0
# Per-run timeout (seconds) of the guest runs in `make test` and `make bench`.
TIMEOUT       ?= 300
BENCH_TIMEOUT ?= 600
# `make fuzz`: the system-call fuzzer's seed, number of calls and threads, and the
# run's timeout (seconds; the default allows about 300 calls/s).
SEED          ?= 1
CALLS         ?= 1000000
THREADS       ?= 8
FUZZ_TIMEOUT  ?= $(shell echo $$(( $(CALLS) / 300 + 300 )))
# RETRY=1 (opt-in, for local use): a guest configuration that fails is run once
# more, and a pass on the second attempt is reported as FLAKY (both logs are kept).
# Off by default: `make test` passes only if every configuration passes first time.
RETRY         ?= 0
# Guest test matrix of `make test`: SMP:MEM pairs.
TEST_MATRIX   ?= 1:256M 2:256M 4:256M 4:4G
# The watchdog self-tests (one short SMP=2 boot each that must end in the lockup
# watchdog's report) run after the matrix unless TEST names other tests.
WATCHDOG_SELFTESTS ?= $(if $(or $(if $(TEST),,1),$(findstring $(TEST),watchdog_selftest_soft watchdog_selftest_hard)),soft hard)

CARGO   ?= cargo
KTARGET := x86_64-unknown-none
KDIR    := target/$(KTARGET)/release
KERNEL  := $(KDIR)/weft-kernel
LOADER  := $(KDIR)/weft-loader
BUILD   := build
ROOTFS  := $(BUILD)/rootfs
INITRAMFS := $(BUILD)/initramfs.tar
RUNNER  := target/debug/weft-runner
LOGS    := $(BUILD)/logs

# Artifacts live in the default target/ whatever the caller's environment says.
export CARGO_TARGET_DIR := $(CURDIR)/target

on = $(filter 1 y yes true on,$(1))

# `make run` boots one CPU unless SMP was given explicitly; `make run-smp` uses $(SMP).
RUN_SMP := $(if $(filter command line environment environment override,$(origin SMP)),$(SMP),1)

# Kernel command lines (docs/conventions.md). RUN goes last so that it can take
# the rest of the line.
TEST_CMDLINE  := $(strip test$(if $(TEST),=$(TEST)) $(KARGS))
BENCH_CMDLINE := $(strip bench $(KARGS))
RUN_CMDLINE   := $(strip $(KARGS) $(if $(RUN),RUN=$(RUN)))

RUNNER_BOOT := --loader $(LOADER) --kernel $(KERNEL) --initramfs $(INITRAMFS) --module-cmdline initramfs \
	$(foreach a,$(QEMU_ARGS),--qemu-arg=$(a))
ICOUNT_FLAG := $(if $(call on,$(ICOUNT)),--icount)

.DEFAULT_GOAL := all
.PHONY: all help deps kernel loader runner initramfs build \
	run run-smp test check test-guest test-init-fail test-loom bench bench-linux fuzz debug iso usb run-iso run-usb clean

all: kernel loader initramfs runner

help:
	@echo 'Targets:'
	@echo '  make deps        install the pinned Rust toolchain, QEMU and musl-gcc (once)'
	@echo '  make kernel      cargo build --release -p weft-kernel --target $(KTARGET)'
	@echo '  make loader      cargo build --release -p weft-loader --target $(KTARGET)'
	@echo '  make initramfs   $(INITRAMFS) from $(ROOTFS)/'
	@echo '  make run         boot under QEMU, serial on this terminal (1 CPU; Ctrl-A X quits)'
	@echo '  make run-smp     the same with SMP=$(SMP) CPUs'
	@echo '  make test        fmt, clippy (host + kernel target), cargo test, then the'
	@echo '                   in-guest tests for TEST_MATRIX=$(TEST_MATRIX)'
	@echo '  make test-guest  only the in-guest test matrix'
	@echo '  make test-init-fail  boots with a missing and a bad init: must fail fast'
	@echo '  make bench       in-guest benchmarks at SMP=$(SMP) (ICOUNT=1 adds an -icount pass)'
	@echo '  make fuzz        the system-call fuzzer in the guest (SEED=$(SEED) CALLS=$(CALLS) THREADS=$(THREADS) SMP=$(SMP))'
	@echo '  make debug       QEMU halted with a gdb server, gdb attached (tools/gdb/weft.gdb)'
	@echo '  make iso / usb   build/weft.iso / build/weft.img with real Limine (LIMINE_DIR=...)'
	@echo '  make run-iso / run-usb   boot those images under QEMU (SeaBIOS; UEFI=1 for OVMF)'
	@echo '  make clean'
	@echo 'Variables: SMP=$(SMP) MEM=$(MEM) ICOUNT=$(ICOUNT) TEST=$(TEST) RUN=$(RUN) EXTRA=$(EXTRA) KARGS=$(KARGS)'
	@echo '           TIMEOUT=$(TIMEOUT) QEMU_ARGS=$(QEMU_ARGS) LIMINE_DIR=$(LIMINE_DIR)'

# ---- dependencies ------------------------------------------------------------------
deps: $(BUILD)/.deps-stamp

$(BUILD)/.deps-stamp: ci/install-deps.sh rust-toolchain.toml
	@mkdir -p $(BUILD)
	bash ci/install-deps.sh
	@touch $@

# ---- builds (cargo decides what is fresh) --------------------------------------------
kernel: deps
	$(CARGO) build --release -p weft-kernel --target $(KTARGET)

loader: deps
	$(CARGO) build --release -p weft-loader --target $(KTARGET)

runner: deps
	$(CARGO) build -p weft-runner

build: all

# ---- initramfs -------------------------------------------------------------------------
# The staging directory $(ROOTFS)/ is rebuilt from scratch every time and packed
# as ustar with fixed owners, order and times, so the archive is reproducible.
#
# >>> USER PROGRAMS (later issues) >>>
# Build user programs with their own rules and add the resulting executables to
# USER_BINS (USER_BINS += path/to/prog); each is installed as /bin/<file name>.
# Other files for the image go to ROOTFS_FILES as `source:/dest/path` pairs.
USER_BINS    :=
ROOTFS_FILES :=

# Rust programs (user/*, on libs/rt and libs/sync): static non-PIE ELF executables
# at 0x400000, built for x86_64-unknown-linux-musl without libc or C start files
# (libs/rt's crate docs explain the flags), in their own target directory so that
# their RUSTFLAGS never mix with the kernel's. They run natively on Linux too.
USER_TARGET    := x86_64-unknown-linux-musl
USER_DIR       := $(CURDIR)/target/user
USER_OUT       := $(USER_DIR)/$(USER_TARGET)/release
USER_RUSTFLAGS := -C relocation-model=static -C force-frame-pointers=yes \
	-C link-self-contained=no -C link-arg=-nostartfiles
USER_CARGO     = CARGO_TARGET_DIR=$(USER_DIR) RUSTFLAGS='$(USER_RUSTFLAGS)' $(CARGO)
USER_RUST      := init utest threads-demo ubench
USER_PKGS      := -p weft-rt -p weft-sync $(foreach p,$(USER_RUST),-p weft-$(p))
# C programs (user/c/*.c): static musl executables.
USER_C_OUT     := $(USER_DIR)/c
USER_C         := hello pthread_smoke sigtest sigbench stress
MUSL_GCC       ?= musl-gcc
USER_CFLAGS    := -static -O2 -Wall -Wextra -Werror -pthread
# Broken executables for utest's user_bad_elf (user/bad-elf/gen.sh), mode 0755.
USER_BAD       := bad-garbage bad-truncated bad-truncated-phdrs bad-truncated-segment bad-arch

# Rust std program (user/stdtest, crate weft-stdtest): std's own runtime, so plain
# RUSTFLAGS (never USER_RUSTFLAGS) in its own target directory, and the workspace's
# std-unwind profile (release with unwinding panics).
STD_DIR   := $(CURDIR)/target/std
STD_OUT   := $(STD_DIR)/$(USER_TARGET)/std-unwind
STD_CARGO  = CARGO_TARGET_DIR=$(STD_DIR) RUSTFLAGS= $(CARGO)

USER_BINS += $(addprefix $(USER_OUT)/,$(USER_RUST)) $(addprefix $(USER_C_OUT)/,$(USER_C)) \
	$(addprefix $(USER_C_OUT)/,$(USER_BAD)) $(STD_OUT)/stdtest $(USER_C_OUT)/fuzz

# Busybox: Debian's busybox-static, pinned, fetched with `apt-get download` into
# build/busybox/ (cached) and unpacked there with `dpkg-deb -x`; the initramfs gets
# /bin/busybox and its copyright file when they are there. A failed download is
# reported and skipped (the build goes on; utest's sh_signals then says so).
BUSYBOX_VERSION   := 1:1.35.0-4+deb12u1+b1
BUSYBOX_DIR       := $(BUILD)/busybox
BUSYBOX_DEB       := $(BUSYBOX_DIR)/busybox-static.deb
BUSYBOX           := $(BUSYBOX_DIR)/bin/busybox
BUSYBOX_COPYRIGHT := $(BUSYBOX_DIR)/usr/share/doc/busybox-static/copyright
# Optional image files, `source:/dest/path:mode`: installed if the source exists.
ROOTFS_OPTIONAL := $(BUSYBOX):/bin/busybox:0755 \
	$(BUSYBOX_COPYRIGHT):/usr/share/doc/busybox-static/copyright:0644
ROOTFS_FILES += user/sh/signals.sh:/etc/tests/signals.sh

.PHONY: user user-rust user-std user-check user-host-test busybox

# `make user`: every user program.
user: $(USER_BINS)

# Cargo decides what is fresh.
$(addprefix $(USER_OUT)/,$(USER_RUST)): user-rust ;
user-rust: | deps
	$(USER_CARGO) build --release --target $(USER_TARGET) $(USER_PKGS)

busybox:
	@if [ -x $(BUSYBOX) ] && [ -f $(BUSYBOX_COPYRIGHT) ]; then exit 0; fi; \
	mkdir -p $(BUSYBOX_DIR)/dl; \
	if [ ! -f $(BUSYBOX_DEB) ]; then \
		rm -f $(BUSYBOX_DIR)/dl/*.deb; \
		echo "busybox: apt-get download busybox-static=$(BUSYBOX_VERSION)"; \
		fetch() { (cd $(BUSYBOX_DIR)/dl && apt-get download 'busybox-static=$(BUSYBOX_VERSION)') \
			>>$(BUSYBOX_DIR)/download.log 2>&1 && mv $(BUSYBOX_DIR)/dl/busybox-static_*.deb $(BUSYBOX_DEB); }; \
		: > $(BUSYBOX_DIR)/download.log; \
		if fetch || { [ "$$(id -u)" = 0 ] && apt-get update -qq >>$(BUSYBOX_DIR)/download.log 2>&1 && fetch; }; then :; \
		else \
			echo "busybox: could not download busybox-static=$(BUSYBOX_VERSION) (log: $(BUSYBOX_DIR)/download.log)."; \
			echo "busybox: to get it, on a Debian 12 (bookworm) system with deb.debian.org in its sources run"; \
			echo "busybox:   apt-get download busybox-static=$(BUSYBOX_VERSION)"; \
			echo "busybox: and copy the .deb to $(BUSYBOX_DEB); until then busybox is left out of the image"; \
			echo "busybox: and its tests are skipped."; \
			exit 0; \
		fi; \
	fi; \
	if ! command -v dpkg-deb >/dev/null 2>&1; then \
		echo "busybox: dpkg-deb is missing (apt-get install dpkg): busybox left out of the image"; \
		exit 0; \
	fi; \
	v=$$(dpkg-deb -f $(BUSYBOX_DEB) Version); \
	if [ "$$v" != '$(BUSYBOX_VERSION)' ]; then \
		echo "busybox: $(BUSYBOX_DEB) is version $$v, not $(BUSYBOX_VERSION): delete it to fetch the pinned one"; \
		exit 1; \
	fi; \
	dpkg-deb -x $(BUSYBOX_DEB) $(BUSYBOX_DIR) && test -x $(BUSYBOX) && test -f $(BUSYBOX_COPYRIGHT) && \
	echo "busybox: $(BUSYBOX) ($(BUSYBOX_VERSION))"

initramfs: busybox

$(STD_OUT)/stdtest: user-std ;
user-std: | deps
	$(STD_CARGO) build --profile std-unwind --target $(USER_TARGET) -p weft-stdtest

$(USER_C_OUT)/%: user/c/%.c | deps
	@mkdir -p $(@D)
	$(MUSL_GCC) $(USER_CFLAGS) -o $@ $<

# The system-call fuzzer (user/fuzz/fuzz.c; docs/testing.md).
$(USER_C_OUT)/fuzz: user/fuzz/fuzz.c | deps
	@mkdir -p $(@D)
	$(MUSL_GCC) $(USER_CFLAGS) -o $@ $<

$(addprefix $(USER_C_OUT)/,$(USER_BAD)) &: user/bad-elf/gen.sh $(USER_C_OUT)/hello
	sh user/bad-elf/gen.sh $(USER_C_OUT)/hello $(USER_C_OUT)

# `make user-check`: rustfmt and clippy (-D warnings, user target and flags) for
# the user crates.
user-check: | deps
	$(CARGO) fmt --check $(USER_PKGS)
	$(USER_CARGO) clippy --release --target $(USER_TARGET) $(USER_PKGS) -- -D warnings
	$(CARGO) fmt --check -p weft-stdtest
	$(STD_CARGO) clippy --profile std-unwind --target $(USER_TARGET) -p weft-stdtest -- -D warnings

# `make user-host-test`: the user programs natively on this Linux host, from a
# /bin-like directory (utest finds the bad-* files, sigtest, stdtest, busybox and
# signals.sh next to itself); the external-program tests (sig_*, std_*, sh_*) after
# the rest; ubench last (figures only, a few seconds).
user-host-test: user busybox
	@rm -rf $(USER_DIR)/bin && mkdir -p $(USER_DIR)/bin
	install -m 0755 $(USER_BINS) $(USER_DIR)/bin/
	install -m 0644 user/sh/signals.sh $(USER_DIR)/bin/
	@if [ -x $(BUSYBOX) ]; then install -m 0755 $(BUSYBOX) $(USER_DIR)/bin/; \
	else echo "user-host-test: no $(BUSYBOX): sh_signals reports busybox not installed"; fi
	$(USER_DIR)/bin/hello
	$(USER_DIR)/bin/pthread_smoke
	$(USER_DIR)/bin/init --run threads-demo
	$(USER_DIR)/bin/init --test --no-ext
	$(USER_DIR)/bin/init --test sig_
	$(USER_DIR)/bin/init --test std_
	$(USER_DIR)/bin/init --test sh_
	$(USER_DIR)/bin/init --run ubench
# <<< USER PROGRAMS <<<

initramfs: $(USER_BINS) $(foreach f,$(ROOTFS_FILES),$(firstword $(subst :, ,$(f))))
	@rm -rf $(ROOTFS)
	@mkdir -p $(ROOTFS)/bin $(ROOTFS)/etc
	@printf 'Welcome to Weft.\n' > $(ROOTFS)/etc/motd
	$(if $(USER_BINS),install -m 0755 $(USER_BINS) $(ROOTFS)/bin/)
	$(foreach f,$(ROOTFS_FILES),install -D -m 0644 $(firstword $(subst :, ,$(f))) $(ROOTFS)$(lastword $(subst :, ,$(f)));)
	@$(foreach f,$(ROOTFS_OPTIONAL),set -- $(subst :, ,$(f)); if [ -f "$$1" ]; then install -D -m "$$3" "$$1" "$(ROOTFS)$$2"; fi;) true
	@# Every busybox applet by name (/bin/sh among them): symbolic links to /bin/busybox
	@# (busybox runs applets by argv[0]; without /proc/self/exe it finds them on PATH).
	@if [ -x $(ROOTFS)/bin/busybox ]; then for a in $$($(BUSYBOX) --list); do \
		[ -e $(ROOTFS)/bin/$$a ] || ln -s busybox $(ROOTFS)/bin/$$a; done; fi
	$(if $(EXTRA),@test -d '$(EXTRA)' || { echo "EXTRA=$(EXTRA) is not a directory"; exit 1; })
	$(if $(EXTRA),cp -a '$(EXTRA)'/. $(ROOTFS)/)
	@cd $(ROOTFS) && tar --format=ustar --sort=name --owner=0 --group=0 --numeric-owner \
		--mode=u+rwX,go+rX,go-w \
		--mtime=@1767225600 -cf ../initramfs.tar.tmp $$(ls -A)
	@mv $(INITRAMFS).tmp $(INITRAMFS)
	@echo "initramfs: $(INITRAMFS) ($$(tar -tf $(INITRAMFS) | wc -l) entries)"

# ---- running --------------------------------------------------------------------------
run: kernel loader initramfs runner
	$(RUNNER) --mode run --smp $(RUN_SMP) --mem $(MEM) --cmdline '$(RUN_CMDLINE)' \
		$(ICOUNT_FLAG) $(RUNNER_BOOT) --log $(LOGS)/run.log

run-smp: kernel loader initramfs runner
	$(RUNNER) --mode run --smp $(SMP) --mem $(MEM) --cmdline '$(RUN_CMDLINE)' \
		$(ICOUNT_FLAG) $(RUNNER_BOOT) --log $(LOGS)/run.log

# ---- testing --------------------------------------------------------------------------
# Host checks first (fast failures), then the guest matrix. Every guest run
# goes ahead even if an earlier one failed; `weft-runner summarize` then prints
# the per-run table and the closing `<N> passed, <M> failed` line, and fails
# if anything failed.
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(KTARGET) -p weft-kernel -p weft-loader -p weft-arch -p weft-mm -p weft-sched -p weft-futex -p weft-vfs -p weft-exec -p weft-abi -- -D warnings
	$(CARGO) test
	@$(MAKE) --no-print-directory test-loom user-check
	@$(MAKE) --no-print-directory test-init-fail
	@$(MAKE) --no-print-directory test-guest

# Exhaustive model checks of the futex table's wait/wake/requeue protocol (loom),
# in their own target directory so the `--cfg loom` build never mixes with others.
test-loom: deps
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CURDIR)/target/loom $(CARGO) test -p weft-futex --release --test loom

check: test

# A kernel whose init cannot start must say why and end the run as a failure (not
# hang): boot with `init=` naming a missing file and a file that is not an ELF; each
# must end with QEMU's failure status (runner exit 1, not a timeout) and the reason.
INIT_FAIL_CASES := /nonexistent:ENOENT /bin/bad-garbage:ENOEXEC
test-init-fail: kernel loader initramfs runner
	@mkdir -p $(LOGS)
	@for c in $(INIT_FAIL_CASES); do \
		path=$${c%%:*}; err=$${c#*:}; log=$(LOGS)/init-fail-$$err.log; \
		$(RUNNER) --mode run --quiet --smp 1 --mem $(MEM) --timeout 60 --cmdline "init=$$path" \
			$(RUNNER_BOOT) --log $$log </dev/null; st=$$?; \
		if [ $$st = 1 ] && grep -q "init: cannot start $$path: $$err" $$log && \
			grep -q 'shutting down (failure)' $$log; then \
			echo "test-init-fail: init=$$path: $$err, failure shutdown: ok"; \
		else \
			echo "test-init-fail: init=$$path: FAILED (runner status $$st, log $$log):"; \
			tail -n 5 $$log; exit 1; \
		fi; \
	done

test-guest: kernel loader initramfs runner
	@rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results $(LOGS)
	@for cfg in $(TEST_MATRIX); do \
		smp=$${cfg%%:*}; mem=$${cfg#*:}; \
		echo "==== guest tests: smp=$$smp mem=$$mem cmdline='$(TEST_CMDLINE)' ===="; \
		run() { $(RUNNER) --mode test --smp $$smp --mem $$mem --timeout $(TIMEOUT) \
			--cmdline "$(TEST_CMDLINE) cpus=$$smp" $(ICOUNT_FLAG) $(RUNNER_BOOT) \
			--log $(LOGS)/test-smp$$smp-$$mem.log \
			--result $(BUILD)/results/smp$$smp-$$mem.txt; }; \
		if ! run; then \
			if [ "$(RETRY)" = 1 ]; then \
				mv $(LOGS)/test-smp$$smp-$$mem.log $(LOGS)/test-smp$$smp-$$mem-try1.log; \
				mv $(BUILD)/results/smp$$smp-$$mem.txt $(BUILD)/results/smp$$smp-$$mem-try1.txt 2>/dev/null || true; \
				echo "runner: smp=$$smp mem=$$mem FAILED on the first attempt (log: $(LOGS)/test-smp$$smp-$$mem-try1.log); running it once more"; \
				if run; then echo "runner: FLAKY: smp=$$smp mem=$$mem passed only on the second attempt"; fi; \
			fi; \
		fi; \
	done
	@for kind in $(WATCHDOG_SELFTESTS); do \
		echo "==== watchdog self-test: $$kind lockup, smp=2 (the run must end in the watchdog's report) ===="; \
		$(RUNNER) --mode test --smp 2 --mem 256M --timeout 60 --expect-watchdog $$kind \
			--label "watchdog-$$kind smp=2" \
			--cmdline "test=watchdog_selftest_$$kind watchdog=1 cpus=2 $(KARGS)" $(ICOUNT_FLAG) $(RUNNER_BOOT) \
			--log $(LOGS)/test-watchdog-$$kind.log --result $(BUILD)/results/watchdog-$$kind.txt -q || true; \
	done
	@$(RUNNER) summarize $(foreach c,$(TEST_MATRIX),$(BUILD)/results/smp$(firstword $(subst :, ,$(c)))-$(lastword $(subst :, ,$(c))).txt) \
		$(foreach k,$(WATCHDOG_SELFTESTS),$(BUILD)/results/watchdog-$(k).txt)

# ---- fuzzing --------------------------------------------------------------------------
# /bin/fuzz as the guest's only program, judged like a test run: it prints
# `test fuzz ... ok|FAILED` and `<N> passed, <M> failed` itself, so the runner
# fails on a FAILED fuzz status, a kernel panic, an exception report, a triple
# fault or a timeout (a hang).
fuzz: kernel loader initramfs runner
	@mkdir -p $(LOGS)
	$(RUNNER) --mode test --smp $(SMP) --mem $(MEM) --timeout $(FUZZ_TIMEOUT) \
		--cmdline '$(strip $(KARGS) RUN=/bin/fuzz SEED=$(SEED) CALLS=$(CALLS) THREADS=$(THREADS))' \
		$(ICOUNT_FLAG) $(RUNNER_BOOT) --log $(LOGS)/fuzz-smp$(SMP)-seed$(SEED).log

# ---- benchmarks -----------------------------------------------------------------------
# Plain TCG first; with ICOUNT=1 a second pass under -icount shift=0
# (deterministic virtual time, one host thread for all vCPUs). Values never fail.
bench: kernel loader initramfs runner
	@mkdir -p $(LOGS)
	$(RUNNER) --mode bench --smp $(SMP) --mem $(MEM) --timeout $(BENCH_TIMEOUT) \
		--cmdline '$(BENCH_CMDLINE)' $(RUNNER_BOOT) --log $(LOGS)/bench-tcg.log
	$(if $(call on,$(ICOUNT)),$(RUNNER) --mode bench --smp $(SMP) --mem $(MEM) --timeout $(BENCH_TIMEOUT) \
		--cmdline '$(BENCH_CMDLINE)' --icount $(RUNNER_BOOT) --log $(LOGS)/bench-icount.log)

# Linux in the same QEMU, running the same static /bin/ubench as /init:
# `make bench-linux LINUX=/path/to/bzImage` (a Debian linux-image-*-cloud-amd64
# package has one in boot/). Needs root (mknod /dev/console in the initrd).
LINUX ?=
bench-linux: user
	@test -n '$(LINUX)' || { echo "make bench-linux: set LINUX=/path/to/bzImage"; exit 1; }
	bash tools/compare/linux.sh '$(LINUX)' $(USER_OUT)/ubench $(SMP) 512M $(if $(call on,$(ICOUNT)),1,0)

# ---- debugging ------------------------------------------------------------------------
# QEMU starts halted (-s -S) in the background with its serial output in
# $(LOGS)/debug-serial.log; gdb loads the kernel symbols, connects and stops
# at the kernel entry (tools/gdb/weft.gdb). Quitting gdb ends QEMU.
debug: kernel loader initramfs runner
	@command -v gdb >/dev/null 2>&1 || { echo "make debug: gdb is missing (apt-get install gdb)"; exit 1; }
	@mkdir -p $(LOGS)
	@rm -f $(BUILD)/debug-qemu.pid
	@echo "make debug: serial output goes to $(LOGS)/debug-serial.log (tail -f it in another terminal)"
	@$(RUNNER) --mode run --gdb --quiet --smp $(RUN_SMP) --mem $(MEM) --cmdline '$(RUN_CMDLINE)' \
		$(ICOUNT_FLAG) $(RUNNER_BOOT) --qemu-arg=-pidfile --qemu-arg=$(BUILD)/debug-qemu.pid \
		--log $(LOGS)/debug-serial.log </dev/null >/dev/null 2>$(LOGS)/debug-qemu.err & \
	runner=$$!; \
	gdb -q $(KERNEL) -x tools/gdb/weft.gdb; \
	if [ -f $(BUILD)/debug-qemu.pid ]; then kill "$$(cat $(BUILD)/debug-qemu.pid)" 2>/dev/null || true; fi; \
	wait $$runner 2>/dev/null || true

# ---- bootable images with real Limine ---------------------------------------------------
iso: kernel initramfs
	LIMINE_DIR='$(LIMINE_DIR)' KERNEL=$(KERNEL) INITRAMFS=$(INITRAMFS) bash ci/limine-image.sh iso

usb: kernel initramfs
	LIMINE_DIR='$(LIMINE_DIR)' KERNEL=$(KERNEL) INITRAMFS=$(INITRAMFS) bash ci/limine-image.sh usb

# Boot the images under QEMU (SeaBIOS, or OVMF with UEFI=1). Limine's menu draws
# on the display, which is off by default (-display none): its default entry (the
# first in limine.conf, empty cmdline) boots after the timeout. To see the menu and
# choose another entry: QEMU_ARGS="-vga std -display gtk" (or -display curses).
run-iso: iso runner
	$(RUNNER) --mode run --image $(BUILD)/weft.iso $(if $(call on,$(UEFI)),--uefi) \
		--smp $(SMP) --mem $(MEM) $(foreach a,$(QEMU_ARGS),--qemu-arg=$(a)) --log $(LOGS)/run-iso.log

run-usb: usb runner
	$(RUNNER) --mode run --image $(BUILD)/weft.img $(if $(call on,$(UEFI)),--uefi) \
		--smp $(SMP) --mem $(MEM) $(foreach a,$(QEMU_ARGS),--qemu-arg=$(a)) --log $(LOGS)/run-usb.log

# ---- cleaning -------------------------------------------------------------------------
clean:
	$(CARGO) clean
	rm -rf $(BUILD)

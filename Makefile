# Top-level Makefile (GNU make; on DragonFly run it with gmake).
#
#   make deps          install the Debian packages the builds need (idempotent)
#   make kernel        build target/x86_64-dragonfly-kernel/release/libhammer_io.a,
#                      the Rust object that replaces hammer_io.o in hammer.ko
#   make check-object  check that archive for kernel-linker compatibility
#   make kmod          build hammer.ko with it (on DragonFly; elsewhere explains)
#   make kmod-linktest emulate the hammer.ko link here (clang + ld -r) and compare
#                      it with the C module (needs SYSDIR)
#
# Variables (command line or environment):
#   SYSDIR=<dfly sys/>   generate the bindings from the real kernel headers
#                        (required for a loadable module; without it the hosted
#                        headers are used and the object is only good for checks)
#   DFLY_RELOC=pc32|native  pc32 rewrites R_X86_64_PLT32 into R_X86_64_PC32 (with
#                        kmod/elfrel) for kernels whose linker does not know
#                        PLT32 -- which includes the kernel this port targets.
#                        Default: pc32 when SYSDIR is set, native otherwise.
#   KERNEL_LTO=fat|thin|off  LTO for the kernel archive (default fat; it removes
#                        unused core code, whose imports such as memcmp the kernel
#                        does not provide)
#   REQUIRE_EXPORTS=1    make check-object insist on all 37 exports
#   MAX_FRAME=N          stack frame limit for check-object (2048)
#   REFERENCE_DIR=...    where io-imports.txt/io-exports.txt live
#                        (default ../shared/reference)

SHELL := /bin/sh

UNAME := $(shell uname -s)

# ----------------------------------------------------------------------------
# The two commands of the README
#   make        the main job: kernel object + its checks, then the hosted
#               environment running the default workload through the Rust
#               port (and the C reference when it is there), with a summary
#   make test   every test: lint, unit/integration tests of all crates, the
#               kernel object checks, the conformance run
# Both install what they need first (make deps).
# ----------------------------------------------------------------------------
HOST_CARGO ?= cargo
HOSTED := --features hammer_io/hosted
# How many seeded scenarios `make test` compares (make conformance: SEEDS/SEED)
TEST_SEEDS ?= 2000
# The C that conformance compares against (as build.rs finds it).
REFERENCE_C := $(or $(HAMMER_IO_REFERENCE),$(abspath $(CURDIR)/../shared/reference/hammer_io.c))

.PHONY: all test lint host-test conformance hosted-run vmtest vmtest-deps

all: deps kernel
	@$(MAKE) --no-print-directory check-object REQUIRE_EXPORTS=1
	@$(MAKE) --no-print-directory hosted-run

test: deps vmtest-deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory host-test
	@$(MAKE) --no-print-directory kernel
	@$(MAKE) --no-print-directory check-object REQUIRE_EXPORTS=1
	@if [ -f "$(REFERENCE_C)" ]; then \
	    $(MAKE) --no-print-directory conformance SEEDS=$(TEST_SEEDS); \
	 else \
	    echo "************************************************************"; \
	    echo "* conformance SKIPPED: no reference hammer_io.c at"; \
	    echo "*   $(REFERENCE_C)"; \
	    echo "* (put ../shared/reference beside the clone or set"; \
	    echo "*  HAMMER_IO_REFERENCE; 'make conformance' fails without it)"; \
	    echo "************************************************************"; \
	 fi

lint:
	@if $(HOST_CARGO) fmt --version >/dev/null 2>&1; then $(HOST_CARGO) fmt --all --check; \
	 else echo "lint: rustfmt is not installed; formatting not checked"; fi
	$(HOST_CARGO) clippy --workspace --all-targets $(HOSTED) -- -D warnings
	$(HOST_CARGO) clippy -p hammer_io --lib -- -D warnings

# The conformance test's 2,000-scenario run is left to `make conformance`
# (release build, a few times faster) so it is not run twice.
host-test:
	CONFORMANCE_SKIP_DEFAULT_RUN=1 $(HOST_CARGO) test --workspace $(HOSTED)

hosted-run:
	$(HOST_CARGO) run -q --release $(HOSTED) --bin hammer-hosted

conformance:
	$(HOST_CARGO) build -q --release $(HOSTED) --bin conformance
	$(if $(SEEDS),SEEDS=$(SEEDS)) $(if $(SEED),SEED=$(SEED)) \
		$(HOST_CARGO) run -q --release $(HOSTED) --bin conformance

vmtest-deps:
	@sh vmtest/install-deps.sh >/dev/null

vmtest:
	$(HOST_CARGO) run -q -p vmtest --release -- $(VMTEST_ARGS)

# ----------------------------------------------------------------------------
# Kernel object
# ----------------------------------------------------------------------------

# Debian's toolchain (rustc-web/cargo-web, with rust-src) builds the kernel
# target; rustup's may lack rust-src for -Z build-std. On other systems, set
# these to a toolchain that has rust-src.
KERNEL_CARGO ?= $(firstword $(wildcard /usr/bin/cargo) cargo)
KERNEL_RUSTC ?= $(firstword $(wildcard /usr/bin/rustc) rustc)
KERNEL_TARGET := x86_64-dragonfly-kernel
# Always the repository's own target/, whatever CARGO_TARGET_DIR says, so the
# archive has one well-known path (kmod/Makefile reads it from there).
KERNEL_TARGET_DIR := $(CURDIR)/target
KERNEL_LIB := $(KERNEL_TARGET_DIR)/$(KERNEL_TARGET)/release/libhammer_io.a
KERNEL_INFO := $(KERNEL_LIB).info
KERNEL_LTO ?= fat

ifeq ($(UNAME),DragonFly)
SYSDIR ?= /usr/src/sys
endif
SYSDIR ?=
DFLY_RELOC ?= $(if $(SYSDIR),pc32,native)

OBJCOPY ?= objcopy
ELFREL := $(KERNEL_TARGET_DIR)/release/elfrel

REFERENCE_DIR ?= $(abspath $(CURDIR)/../shared/reference)
REQUIRE_EXPORTS ?= 0
MAX_FRAME ?= 2048

# cargo invocation for the kernel target. SYSDIR is passed only when set, so
# build.rs picks the hosted headers otherwise.
KERNEL_ENV := RUSTC=$(KERNEL_RUSTC) RUSTC_BOOTSTRAP=1 \
	CARGO_TARGET_DIR=$(KERNEL_TARGET_DIR) \
	CARGO_PROFILE_RELEASE_LTO=$(KERNEL_LTO) \
	$(if $(SYSDIR),SYSDIR=$(abspath $(SYSDIR)))

# Sections removed from every archive member:
#  .eh_frame/.rela.eh_frame  LLVM marks .eh_frame SHT_X86_64_UNWIND; the kernel
#      linker does not load it and then panics on its relocation section
#      ("lost base for relatab"). No unwinder runs in the kernel anyway.
#  .llvmbc/.llvmcmd          embedded bitcode (compiler_builtins under LTO); the
#      kernel linker loads every PROGBITS section, allocated or not.
STRIP_SECTIONS := .eh_frame .rela.eh_frame .llvmbc .llvmcmd

.PHONY: help deps kernel elfrel check-object kmod kmod-clean kmod-linktest

help:
	@sed -n '3,9p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# //'

deps:
	@sh .ci/install-deps.sh

# `cargo rustc --crate-type staticlib` rather than `cargo build`: with the
# manifest's rlib crate type next to staticlib, cargo applies no LTO.
kernel: $(if $(filter pc32,$(DFLY_RELOC)),elfrel)
	@case "$(DFLY_RELOC)" in pc32|native) ;; \
	  *) echo "DFLY_RELOC must be pc32 or native, not '$(DFLY_RELOC)'" >&2; exit 2;; esac
	@echo "==> kernel archive: SYSDIR=$(if $(SYSDIR),$(SYSDIR),<unset: hosted headers>) LTO=$(KERNEL_LTO) DFLY_RELOC=$(DFLY_RELOC)"
	$(KERNEL_ENV) $(KERNEL_CARGO) rustc -p hammer_io --lib --crate-type staticlib --release \
		-Z build-std=core,compiler_builtins -Z json-target-spec \
		--target $(CURDIR)/$(KERNEL_TARGET).json
	@# cargo hard-links the archive to its copy under deps/ and re-links it on
	@# every run; post-process a private copy so that one stays pristine.
	cp $(KERNEL_LIB) $(KERNEL_LIB).tmp && mv -f $(KERNEL_LIB).tmp $(KERNEL_LIB)
	$(OBJCOPY) $(addprefix --remove-section=,$(STRIP_SECTIONS)) $(KERNEL_LIB)
ifeq ($(DFLY_RELOC),pc32)
	$(ELFREL) $(KERNEL_LIB)
endif
	@{ echo "sysdir=$(if $(SYSDIR),$(abspath $(SYSDIR)))"; \
	   echo "dfly_reloc=$(DFLY_RELOC)"; echo "lto=$(KERNEL_LTO)"; } >$(KERNEL_INFO)
	@echo "==> $(KERNEL_LIB)"

elfrel:
	RUSTC=$(KERNEL_RUSTC) CARGO_TARGET_DIR=$(KERNEL_TARGET_DIR) \
		$(KERNEL_CARGO) build -q -p elfrel --release

# Runs after `kernel` when both are asked for; alone it checks what is there.
# Unless DFLY_RELOC is given explicitly, the relocation rule follows the mode
# the archive was built in (recorded by `kernel` in $(KERNEL_INFO)).
check-object: $(filter kernel,$(MAKECMDGOALS))
	@reloc=$(DFLY_RELOC); \
	if [ "$(origin DFLY_RELOC)" = file ] && [ -f $(KERNEL_INFO) ]; then \
	    reloc=$$(sed -n 's/^dfly_reloc=//p' $(KERNEL_INFO)); fi; \
	echo "DFLY_RELOC=$$reloc REQUIRE_EXPORTS=$(REQUIRE_EXPORTS) MAX_FRAME=$(MAX_FRAME) sh kmod/check-object.sh $(KERNEL_LIB)"; \
	DFLY_RELOC=$$reloc REQUIRE_EXPORTS=$(REQUIRE_EXPORTS) MAX_FRAME=$(MAX_FRAME) \
		REFERENCE_DIR=$(REFERENCE_DIR) sh kmod/check-object.sh $(KERNEL_LIB)

# Links hammer.ko's equivalent on this host from the HAMMER C sources of
# SYSDIR and the archive, and compares it with the all-C module.
kmod-linktest: $(filter kernel,$(MAKECMDGOALS)) elfrel
	@test -n "$(SYSDIR)" || { echo "kmod-linktest needs SYSDIR=<dragonfly sys/>" >&2; exit 2; }
	SYSDIR=$(abspath $(SYSDIR)) REFERENCE_DIR=$(REFERENCE_DIR) ELFREL=$(ELFREL) \
		sh kmod/link-test.sh $(KERNEL_LIB)

# ----------------------------------------------------------------------------
# hammer.ko (DragonFly only: needs bsd.kmod.mk and the kernel's build tools)
# ----------------------------------------------------------------------------
BSDMAKE ?= make

ifeq ($(UNAME),DragonFly)
kmod: kernel
	$(BSDMAKE) -C kmod SYSDIR=$(abspath $(SYSDIR)) RUST_LIB=$(KERNEL_LIB)

kmod-clean:
	$(BSDMAKE) -C kmod SYSDIR=$(abspath $(SYSDIR)) clean
else
kmod kmod-clean:
	@echo "kmod: hammer.ko is built on DragonFly BSD with its bsd.kmod.mk (this is $(UNAME))."
	@echo "  On a DragonFly machine with /usr/src (or SYSDIR=<tree>/sys) and Rust with rust-src:"
	@echo "      gmake kmod            # = gmake kernel, then make -C kmod (bmake)"
	@echo "  or build the archive here and copy it over:"
	@echo "      make kernel SYSDIR=/path/to/dragonfly/sys    # DFLY_RELOC=pc32 is implied"
	@echo "      make check-object REQUIRE_EXPORTS=1"
	@echo "      then on DragonFly: make -C kmod RUST_LIB=/path/to/libhammer_io.a"
	@echo "  To check the link here instead: make kmod-linktest SYSDIR=/path/to/dragonfly/sys"
	@echo "  See kmod/README.md."
endif

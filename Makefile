# ctdeid — two commands on a fresh Debian 12 machine (as root): `make demo`, `make test`.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libdcmtk-dev dcmtk libgdcm-tools libsystemd-dev libsqlite3-dev pkg-config dicom3tools sqlite3 systemd dpkg-dev \
  libtesseract-dev tesseract-ocr-eng python3-venv libopenjp2-7-dev chromium bindfs openssl
DEMO := var/demo
BIN_RELEASE := .build/release/ctdeid
FACE_VENV := .build-venv

.PHONY: deps build release test asan tsan fuzz fuzz-build demo bench bench-memory deb profile-table clean

## Install the system packages (Debian/Ubuntu, as root); a no-op when they are present.
deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install: $(APT_PACKAGES)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "make deps: swift 6 toolchain not found on PATH"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Every test: unit tests of the engine and end-to-end tests of the real binary.
test: deps
	@python3 -c "import openpyxl" 2>/dev/null || python3 -m pip install -q openpyxl 2>/dev/null || echo "openpyxl unavailable: its xlsx test will be skipped"
	@# Test-only: the face check's model (dlib, from PyPI) in a venv of its own; never used by the product.
	@$(FACE_VENV)/bin/python -c "import dlib, face_recognition_models" 2>/dev/null \
	  || { python3 -m venv $(FACE_VENV) && $(FACE_VENV)/bin/pip install -q dlib-bin face-recognition-models pillow numpy; } \
	  || echo "dlib unavailable: the face check will be skipped"
	$(SWIFT) build
	bash scripts/check-unit.sh .build/debug/ctdeid
	$(SWIFT) test

## The whole test suite under AddressSanitizer / ThreadSanitizer, each in its own build folder
## (FILTER=EngineTests narrows it). The end-to-end tests run the sanitized ctdeid too; every
## report, of the test process or of a ctdeid it started, lands in var/sanitizers/ and fails the run.
## Leaks are checked in ctdeid (scripts/sanitizers/ctdeid.asan turns LeakSanitizer on for that binary
## name), not in the XCTest runner, whose own test-case objects LSan reports as leaked; its
## suppressions (third-party leaks, Swift references LSan cannot follow) are in lsan.supp, TSan's
## (Synchronization.Mutex, which TSan cannot see on Linux) in tsan.supp.
## Sanitized stack frames are larger (ASan's redzones several times): the recursive fixture writer
## of the 1,000-deep sequence case overflows the default 8 MiB stack, hence ulimit -s (threads inherit it).
## The 100,000-file case is left out: its budgets (15 min, 400 MiB) are for the plain build that
## `make test` runs, and ASan alone takes longer and 1.5 GiB.
SANITIZER_LOGS := var/sanitizers
SANITIZER_SKIP := --skip testHundredThousandFilesInOneFolder
asan: deps
	@rm -rf $(SANITIZER_LOGS)/asan && mkdir -p $(SANITIZER_LOGS)/asan
	nice -n 10 $(SWIFT) build --build-tests --sanitize=address --build-path .build-asan
	ulimit -s 65536; CTDEID_BIN=$(CURDIR)/.build-asan/debug/ctdeid ASAN_OPTIONS=log_path=$(CURDIR)/$(SANITIZER_LOGS)/asan/report:detect_leaks=0:include_if_exists=$(CURDIR)/scripts/sanitizers/%b.asan \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/sanitizers/lsan.supp:print_suppressions=0 \
	  nice -n 10 $(SWIFT) test --sanitize=address --build-path .build-asan $(SANITIZER_SKIP) $(if $(FILTER),--filter $(FILTER)); \
	  status=$$?; bash scripts/sanitizers/reports.sh $(SANITIZER_LOGS)/asan && exit $$status

tsan: deps
	@rm -rf $(SANITIZER_LOGS)/tsan && mkdir -p $(SANITIZER_LOGS)/tsan
	nice -n 10 $(SWIFT) build --build-tests --sanitize=thread --build-path .build-tsan
	ulimit -s 65536; CTDEID_BIN=$(CURDIR)/.build-tsan/debug/ctdeid TSAN_OPTIONS=log_path=$(CURDIR)/$(SANITIZER_LOGS)/tsan/report:suppressions=$(CURDIR)/scripts/sanitizers/tsan.supp \
	  nice -n 10 $(SWIFT) test --sanitize=thread --build-path .build-tsan $(SANITIZER_SKIP) $(if $(FILTER),--filter $(FILTER)); \
	  status=$$?; bash scripts/sanitizers/reports.sh $(SANITIZER_LOGS)/tsan && exit $$status

## libFuzzer + AddressSanitizer over load, checks, pixels, de-identification and save of one file
## (Sources/FuzzDeidentify) for FUZZ_SECONDS (default 600); FUZZ_FLAGS adds libFuzzer flags (e.g.
## "-fork=1 -ignore_crashes=1" goes on past a crash). Corpus, crashers and log in var/fuzz;
## replay one input with `.build-fuzz/debug/FuzzDeidentify FILE`. DICOM lengths are 32-bit, and DCMTK
## allocates a value's declared length before reading it when it cannot see the end of the stream
## (deflate); ASan refuses such allocations over 2 GiB with NULL, as a small host would, so the
## fuzzer checks that the refusal is handled instead of stopping at libFuzzer's malloc limit.
## Swift's own crash backtracer is off: libFuzzer prints the stack, and ASan reports the
## backtracer's reads of the crashed stack as a second, bogus error.
FUZZ_SECONDS ?= 600
FUZZ := var/fuzz
FUZZ_BIN := .build-fuzz/debug/FuzzDeidentify
fuzz-build: deps
	nice -n 10 $(SWIFT) build --product FuzzDeidentify --build-path .build-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcxx -fsanitize=fuzzer-no-link,address

fuzz: fuzz-build
	@mkdir -p $(FUZZ)/corpus $(FUZZ)/crashes
	bash scripts/fuzz-seeds.sh $(FUZZ_BIN) $(FUZZ)/seeds
	set -o pipefail; SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=2048 \
	  nice -n 10 $(FUZZ_BIN) $(FUZZ)/corpus $(FUZZ)/seeds -dict=Sources/FuzzDeidentify/dicom.dict \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=30 -artifact_prefix=$(FUZZ)/crashes/ -print_final_stats=1 $(FUZZ_FLAGS) 2>&1 | tee $(FUZZ)/last-run.log

## Generate a small synthetic inbox, de-identify it, show where everything went.
demo: release
	@rm -rf $(DEMO)
	@$(BIN_RELEASE) sample --output $(DEMO)/inbox --mapping $(DEMO)/mapping.csv --patients 3 --slices 40 --size 256
	@$(BIN_RELEASE) run --input $(DEMO)/inbox --output $(DEMO)/outbox --mapping $(DEMO)/mapping.csv \
	  --database $(DEMO)/ctdeid.sqlite --quiet; status=$$?; \
	echo; echo "input:    $(DEMO)/inbox  (untouched)"; \
	echo "output:   $(DEMO)/outbox"; find $(DEMO)/outbox -maxdepth 3 -type d | sort | sed 's/^/  /'; \
	echo "QA:       face removal before/after pictures"; find $(DEMO)/qa -name '*.png' | sort | sed 's/^/  /'; \
	echo "audit:    $(DEMO)/ctdeid.sqlite"; \
	sqlite3 -header -column $(DEMO)/ctdeid.sqlite "SELECT id, folder, deid_id, state, files_delivered, files_quarantined FROM jobs"; \
	echo "exit status of ctdeid run: $$status"

## ctdeid run against cp -r and the peers (gdcmanon, dcmodify) on one synthetic corpus
## (PATIENTS=3 SLICES=200 SIZE=512 REPS=3, in BENCH_DIR=var/bench), alternating, median; then the
## service's latency. BENCH_DIR=/dev/shm/ctdeid-bench takes the disk out (CPU only).
bench: release
	@dpkg -s libgdcm-tools openssl >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq libgdcm-tools openssl >/dev/null; } || true
	python3 scripts/bench.py $(BIN_RELEASE)

## Peak memory: a 1,000-slice 512x512 series (defaced) and a 10,000-file backlog served.
bench-memory: release
	python3 scripts/bench_memory.py $(BIN_RELEASE)

## Debian 12 package var/ctdeid_<version>_amd64.deb (Swift runtime linked statically); as root,
## INSTALL_TEST=1 also installs it here, checks the user and trees, and purges it (never starts it).
deb: deps
	bash scripts/build-deb.sh $(if $(INSTALL_TEST),--install-test)

## Regenerate the embedded Table E.1-1 after changing standard/*.json.
profile-table:
	scripts/embed-profile.sh

clean:
	rm -rf .build .build-deb var

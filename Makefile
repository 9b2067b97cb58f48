# cutover: every entry point a human or CI uses. CMake does the building; this file only
# sequences it. `make deps` is idempotent and is called by every target that needs packages.
SHELL := /bin/bash
JOBS  ?= $(shell nproc)
APT_PACKAGES := build-essential cmake pkg-config clang clang-format \
	libuv1-dev node-llhttp libyaml-dev libjansson-dev libarchive-dev libcurl4-openssl-dev \
	libssl-dev libsqlite3-dev libcmocka-dev libacl1-dev acl \
	python3 python3-pytest nginx haproxy wrk curl iproute2 procps psmisc \
	zip unzip tar gzip git nodejs

.PHONY: all deps build test demo bench install format format-check check clean

all: build

deps:
	@missing=$$(dpkg-query -W -f='$${db:Status-Status} $${Package}\n' $(APT_PACKAGES) 2>/dev/null \
		| awk '$$1 != "installed" {print $$2}'; \
		for p in $(APT_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
		echo "deps: installing $$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all packages present"; fi

# Release-style build with -Werror: build/cutover.
build: deps
	cmake --preset release -DCUTOVER_WERROR=ON >/dev/null
	cmake --build --preset release -j $(JOBS)

# Every test tier under ASan+UBSan, plus the static checks.
test: deps check
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	tools/check-prefixes.sh build-asan
	ctest --preset asan

check:
	tools/check-banned.sh
	tools/check-layering.sh
	$(MAKE) --no-print-directory format-check

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 'bench/*.c')

format-check:
	clang-format --dry-run --Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 'bench/*.c')

# The reference architecture on this machine under load (docs/man/cutover-demo.md).
demo: build
	build/cutover demo

bench: build
	bench/proxy.sh
	bench/proxy-memory.sh

# The binary, and the examples `cutover demo` deploys (its default --bundle when installed).
install: build
	install -m 0755 build/cutover /usr/local/bin/cutover
	install -d /usr/local/share/cutover
	rm -rf /usr/local/share/cutover/examples
	cp -R examples /usr/local/share/cutover/examples

clean:
	rm -rf build build-*

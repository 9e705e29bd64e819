# The two commands of the README. Both set up a fresh machine first
# (scripts/setup.sh is idempotent and quick once done).
#
#   make demo   runs the capture pipeline on a real clip into out/
#   make test   runs the whole test suite
#   (make serve starts the web portal and API on http://127.0.0.1:8080/)
#
# Models, clips and the accuracy reference come from ../shared unless these
# say otherwise.

SHELL := /bin/bash
VIDMOCAP_MODELS_DIR ?= $(abspath ../shared/models)
VIDMOCAP_MEDIA_DIR ?= $(abspath ../shared/media)
VIDMOCAP_EVAL_DIR ?= $(abspath ../shared/eval)
ORT_DYLIB_PATH ?= $(CURDIR)/.tools/onnxruntime/libonnxruntime.so
CLIP ?= $(VIDMOCAP_MEDIA_DIR)/walk_outdoor.mp4
export VIDMOCAP_MODELS_DIR VIDMOCAP_MEDIA_DIR VIDMOCAP_EVAL_DIR ORT_DYLIB_PATH

.PHONY: setup demo test serve bench bench-mediapipe lint check-deploy load-test

setup:
	scripts/setup.sh

demo: setup
	cargo run --release -- process "$(CLIP)" -o out

test: setup
	scripts/check-deploy.sh
	cargo test --all-targets

# The web portal and HTTP API with a worker, on http://127.0.0.1:8080/. The
# landing page's demo (the clip beside its 3D result) is made once from the
# first seconds of $(CLIP) into out/demo.
serve: setup out/demo/motion.glb
	VIDMOCAP_DEMO_DIR=$(CURDIR)/out/demo cargo run --release -- serve

out/demo/motion.glb:
	mkdir -p out/demo
	ffmpeg -v error -y -i "$(CLIP)" -t 4 -an -c:v libx264 -pix_fmt yuv420p out/demo/demo.mp4
	cargo run --release -- process out/demo/demo.mp4 -o out/demo --formats glb,json

bench: setup
	cargo run --release -- bench "$(CLIP)"
	cargo bench --bench stages

# 50 clients on the job API for 30 s against PostgreSQL on 127.0.0.1:5432;
# prints p50/p99 latency and the error count.
load-test: setup
	cargo test --test service_load job_api_under_load_postgres -- --ignored --nocapture

# MediaPipe's own PoseLandmarker on the same clip, for comparison.
bench-mediapipe:
	tools/mediapipe-bench/run.sh --model all --clip "$(CLIP)"

# deploy/ rendered and validated offline (also part of `make test`).
check-deploy: setup
	scripts/check-deploy.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

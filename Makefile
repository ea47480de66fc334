# The two commands of the README's quick start. Each does all of its own setup.
BUILD_DIR ?= build
JOBS ?= 2
MAKEFLAGS += --no-print-directory

.PHONY: run test build deps images clean

run: build
	./scripts/run-local.sh $(BUILD_DIR)

test: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)
	./scripts/with-postgres.sh ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

deps:
	./scripts/install-deps.sh
	./scripts/install-tools.sh

# One OCI archive per service and smartctl under $(BUILD_DIR)/images (buildah, no engine needed).
images: build
	./scripts/build-images.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)

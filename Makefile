# make test   vet, gofmt check, go test -race against PostgreSQL and Redis
# make run    build, migrate, import the demo knowledge base, serve with a fake WeChat API
# make say T="你好"   talk to the demo bot
# make faults   fault-injection run (private PostgreSQL and Redis; FAULTS_SCALE=0.2 for a short one)
# Services come from .ci/services (DATABASE_URL/REDIS_URL, local ones, or private ones in .run/).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.PHONY: test build run say bench lint clean services demo-env faults

# Sets DATABASE_URL and REDIS_URL in the recipe's shell (fails if services fail).
SERVICES = svc=$$(bash .ci/services); eval "$$svc"
DEMO_ENV = set -a; . .run/demo.env; set +a
define LINT
go vet ./...
bad=$$(find . -path ./.run -prune -o -path ./bin -prune -o -name '*.go' -print0 | xargs -0 -r gofmt -l)
if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
endef

test:
	$(SERVICES)
	$(LINT)
	go test -race -count=1 ./...

lint:
	$(LINT)

build:
	go build -o bin/nuanjia ./cmd/nuanjia

services:
	bash .ci/services

demo-env:
	@$(SERVICES)
	mkdir -p .run
	cat > .run/demo.env <<EOF
	WECHAT_APP_ID=wxdemo0000000000
	WECHAT_APP_SECRET=demo-secret
	WECHAT_TOKEN=demo-token
	WECHAT_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
	HTTP_ADDR=127.0.0.1:8080
	WECHAT_API_BASE=http://127.0.0.1:8091
	SPOOL_DIR=.run/spool
	DATABASE_URL='$$DATABASE_URL'
	REDIS_URL='$$REDIS_URL'
	EOF

run: build demo-env
	@$(DEMO_ENV)
	go build -o bin/fakewechat ./cmd/fakewechat
	bin/nuanjia migrate
	bin/nuanjia import kb/demo.yaml
	printf '%s\n' '' \
	  'nuanjia demo: http://127.0.0.1:8080 (fake WeChat API on 127.0.0.1:8091)' \
	  'Talk to it from another terminal:' \
	  '  make say T="你好"' \
	  'or:' \
	  '  set -a; . .run/demo.env; set +a; bin/nuanjia say "你好"' \
	  'Stop with Ctrl-C; stop private databases with: make clean' ''
	bin/fakewechat -addr 127.0.0.1:8091 &
	fake=$$!
	trap 'kill $$fake 2>/dev/null || true; wait $$fake 2>/dev/null || true' EXIT
	bin/nuanjia serve

say:
	@[ -f .run/demo.env ] || { echo 'run "make run" first'; exit 1; }
	$(DEMO_ENV)
	bin/nuanjia say "$(T)"

# The harness starts its own PostgreSQL and Redis (never the shared ones).
faults:
	go test -tags faults -count=1 -v -timeout 45m ./internal/faults/

bench: build demo-env
	@$(DEMO_ENV)
	bin/nuanjia bench

clean:
	bash .ci/services stop
	rm -rf bin

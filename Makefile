# Wallet activity monitor: every stage of the chain is a target; `make run` and `make test` are the two
# commands a fresh clone needs (both create .venv from requirements.txt first).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

DATA   ?= data
MODELS ?= models
WALLETS ?= 2000
DAYS   ?= 60
HOLDOUT ?= 14
SEED   ?= 42
MODEL  ?= iforest
API_HOST ?= 127.0.0.1
API_PORT ?= 8000
# The alert database: a file or a URL (postgresql://USER@HOST:PORT/DBNAME); workers need PostgreSQL.
API_DB ?= $(DATA)/alerts.db
API_WORKERS ?= 1
LIVE_RATE ?= 200
LIVE_ROWS ?= 6000
# A MaxMind GeoIP2/GeoLite2 Country or City file to locate IP addresses with (default: bundled).
GEOIP_DB ?=
GEOIP := $(if $(GEOIP_DB),--geoip-db $(GEOIP_DB))

.PHONY: venv run test lint docs generate features train detect api api-start api-stop live screenshot bench clean
API_URL := http://$(API_HOST):$(API_PORT)
HEALTHY := $(PY) -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health', timeout=1)" $(API_URL)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

SYNTH_SRC    := data_generator.py $(wildcard wallet_monitor/synth/*.py)
FEATURES_SRC := feature_engineering.py $(wildcard wallet_monitor/features/*.py)
MODEL_SRC    := train_model.py $(wildcard wallet_monitor/model/*.py)

$(DATA)/transactions.csv: $(SYNTH_SRC) | $(STAMP)
	$(PY) data_generator.py --data-dir $(DATA) --wallets $(WALLETS) --days $(DAYS) --holdout-days $(HOLDOUT) --seed $(SEED)

$(DATA)/features.csv: $(FEATURES_SRC) $(DATA)/transactions.csv | $(STAMP)
	$(PY) feature_engineering.py --data-dir $(DATA) $(GEOIP)

$(MODELS)/fraud_model.pkl: $(MODEL_SRC) $(DATA)/features.csv | $(STAMP)
	$(PY) train_model.py --data-dir $(DATA) --models-dir $(MODELS) --model $(MODEL) --seed $(SEED)

generate: $(DATA)/transactions.csv
features: $(DATA)/features.csv
train: $(MODELS)/fraud_model.pkl

# Batch detection; alerts go to the API started in the background (see api-start).
detect: $(MODELS)/fraud_model.pkl api-start
	$(PY) detect_anomalies.py --data-dir $(DATA) --models-dir $(MODELS) --api-url $(API_URL) $(GEOIP)

# The alert API in the foreground (Ctrl-C stops it).
api: $(STAMP)
	$(PY) alert_api.py --host $(API_HOST) --port $(API_PORT) --db $(API_DB) --workers $(API_WORKERS)

# The alert API in the background, unless one already answers on $(API_URL).
api-start: $(STAMP)
	@mkdir -p $(DATA)
	@if $(HEALTHY) 2>/dev/null; then echo "alert API already running at $(API_URL)"; else \
	  nohup $(PY) alert_api.py --host $(API_HOST) --port $(API_PORT) --db $(API_DB) --workers $(API_WORKERS) \
	    > $(DATA)/alert_api.log 2>&1 & echo $$! > $(DATA)/alert_api.pid; \
	  for i in $$(seq 100); do $(HEALTHY) 2>/dev/null && break; sleep 0.1; done; \
	  $(HEALTHY) || { echo "alert API did not start; see $(DATA)/alert_api.log" >&2; exit 1; }; \
	  echo "alert API started at $(API_URL) (log: $(DATA)/alert_api.log, stop: make api-stop)"; fi

api-stop:
	@if [ -f $(DATA)/alert_api.pid ]; then kill $$(cat $(DATA)/alert_api.pid) 2>/dev/null || true; rm -f $(DATA)/alert_api.pid; echo "alert API stopped"; fi

# Real time: replay the first LIVE_ROWS holdout transactions into $(DATA)/live at LIVE_RATE rows/s
# while the detector follows that file and alerts as rows arrive.
live: $(MODELS)/fraud_model.pkl api-start
	@echo "live demo: open $(API_URL)/ to watch alerts arrive ($(LIVE_ROWS) transactions at $(LIVE_RATE)/s)"
	$(PY) bench/replay.py --data-dir $(DATA) --out-dir $(DATA)/live --limit 0
	$(PY) bench/replay.py --data-dir $(DATA) --out-dir $(DATA)/live --no-setup --rate $(LIVE_RATE) --limit $(LIVE_ROWS) & \
	$(PY) detect_anomalies.py --follow --data-dir $(DATA)/live --models-dir $(MODELS) --api-url $(API_URL) --max-idle 5 --no-figures $(GEOIP); \
	status=$$?; wait; exit $$status

# The live demo first (alerts appear on the dashboard as rows arrive), then the batch pass over
# the whole holdout: already-alerted transactions are answered "existing" by the idempotent API.
run: live detect
	@echo ""
	@echo "Done. Dashboard: $(API_URL)/   alert log: $(DATA)/alert_api.log   stop the API: make api-stop"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Test files are spread over TEST_WORKERS processes (one file stays in one process: its
# module fixtures are built once).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# docs/FEATURES.md from the feature catalog (a test fails while it is out of date).
docs: $(STAMP)
	$(PY) -m wallet_monitor.model.feature_table

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

screenshot: $(STAMP)
	$(PY) -m tests.api.test_dashboard --out docs/dashboard.png $(if $(URL),--url $(URL))

clean:
	rm -rf $(DATA)/*.csv $(DATA)/*.db* $(DATA)/*.jsonl $(DATA)/*.json $(DATA)/live $(MODELS)/*.pkl reports/*

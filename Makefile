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

.PHONY: venv run test lint generate features train detect api bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

$(DATA)/transactions.csv: data_generator.py | $(STAMP)
	$(PY) data_generator.py --data-dir $(DATA) --wallets $(WALLETS) --days $(DAYS) --holdout-days $(HOLDOUT) --seed $(SEED)

$(DATA)/features.csv: feature_engineering.py $(DATA)/transactions.csv | $(STAMP)
	$(PY) feature_engineering.py --data-dir $(DATA)

$(MODELS)/fraud_model.pkl: train_model.py feature_engineering.py $(DATA)/features.csv | $(STAMP)
	$(PY) train_model.py --data-dir $(DATA) --models-dir $(MODELS) --model $(MODEL) --seed $(SEED)

generate: $(DATA)/transactions.csv
features: $(DATA)/features.csv
train: $(MODELS)/fraud_model.pkl

detect: $(MODELS)/fraud_model.pkl
	$(PY) detect_anomalies.py --data-dir $(DATA) --models-dir $(MODELS) --no-alerts

api: $(STAMP)
	$(PY) alert_api.py --host $(API_HOST) --port $(API_PORT)

run: $(STAMP) train
	$(PY) detect_anomalies.py --data-dir $(DATA) --models-dir $(MODELS) --no-alerts

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(DATA)/*.csv $(DATA)/*.db* $(DATA)/*.jsonl $(MODELS)/*.pkl reports/*

"""Serving stage: load what training registered and answer scoring requests over HTTP.

Modules (the BentoML class is thin; everything else is plain Python, testable without a server):

* ``serving.settings``   — ``ServingSettings`` (``LEADSCORE_SERVING_*`` variables).
* ``serving.schemas``    — pydantic request and response models (the HTTP contract).
* ``serving.request_records``    — request -> canonical CRM records, with warnings for imputed values.
* ``serving.lookups``        — store look-ups for leads/deals given by id, idempotent event ingest.
* ``serving.scorer``     — ``LeadScorer``: features (the training code path), model, reasons,
  rule-based fallback; atomic swap of the active models.
* ``serving.batching``   — ``MicroBatcher``: adaptive batching of concurrent ``/score`` calls.
* ``serving.watcher``    — ``ModelWatcher``: follows the registry's ``champion`` alias.
* ``serving.runtime``    — wiring and the request handlers the service calls.
* ``serving.middleware`` — API key, request-size limit, 422 validation errors.
* ``serving.service``    — the BentoML service (``bentoml serve serving.service:LeadScoring``).
* ``serving.cli``        — ``serve`` and ``write_openapi`` for the ``leadscore`` command.
"""

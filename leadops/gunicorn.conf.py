"""The production web server set-up, given to gunicorn explicitly (not in the repo root, so a
plain ``gunicorn leadops.wsgi`` elsewhere, e.g. in tests, is not changed by it):

    gunicorn -c leadops/gunicorn.conf.py leadops.asgi:application   # what `make run` (manage.py rundemo) and scripts/load.py run

Worker class: uvicorn workers (the ``uvicorn-worker`` package), one asyncio loop per process, so
an open inbox event stream (reps/push.py) is a parked coroutine, not a thread: a few processes
hold hundreds of reps' streams. Synchronous views (all but the stream) run in each worker's fixed
pool of LEADOPS_WEB_THREADS threads.

Every value can be set from the environment:
- LEADOPS_BIND (default 127.0.0.1:8000);
- WEB_CONCURRENCY: worker processes (default 2, one per core of the reference 2-core machine; each
  keeps one PostgreSQL LISTEN connection plus Django's request connections);
- LEADOPS_WEB_TIMEOUT: seconds a worker may stay silent before the arbiter restarts it (default 30;
  streams do not count, the loop keeps answering while they wait);
- LEADOPS_DB_POOL_MAX: database connections per worker process for requests (default 8), plus
  LEADOPS_INBOX_FEED_THREADS (2) for the offer cards sent down inbox streams: 2 workers use at
  most 20 plus one LISTEN connection each;
- LEADOPS_WEB_MAX_ACTIVE: requests running at once per worker process (default: LEADOPS_DB_POOL_MAX,
  so a running request always finds a connection; later ones queue on the event loop, costing no
  thread and no connection; inbox streams are not counted). See leadops/asgi.py: without this
  limit an overloaded worker ran every request in a thread of its own and answered 500 when the
  pool's 10 s wait ran out.
- LEADOPS_WEB_THREADS: threads that run the synchronous views in each worker process (default:
  LEADOPS_WEB_MAX_ACTIVE, or 8 when that is 0); 0 runs them through Django's ASGI handler instead, a new thread per
  request (leadops/asgi.py).
- LEADOPS_WEB_GRACEFUL_TIMEOUT: seconds a stopping worker gets to finish requests (default 10;
  open streams are then cut and the browsers reconnect to another worker).
"""

import os

# Django under ASGI: no persistent per-thread connections, a bounded pool per worker process
# instead (leadops/settings.py). The workers are forked from this process and inherit these.
os.environ.setdefault("LEADOPS_DB_POOL_MAX", "8")

bind = os.environ.get("LEADOPS_BIND", "127.0.0.1:8000")
worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("LEADOPS_WEB_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("LEADOPS_WEB_GRACEFUL_TIMEOUT", "10"))
keepalive = 5
backlog = 2048
max_requests = 0  # streams are long-lived; recycling workers would cut them for no gain
# gunicorn 27's control socket defaults to one fixed path per user ($HOME/.gunicorn/gunicorn.ctl),
# which a second server on the same host (another instance, `make run` beside a load test) would
# take over; nothing here uses it.
control_socket_disable = True

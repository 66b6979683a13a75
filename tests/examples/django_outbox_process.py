"""The web process of ``test_outbox_examples.py``: Django, configured on the test's database,
serving ``docs/examples/outbox_django.py``.

Usage:

    python django_outbox_process.py POSTGRES_URL ORDERS_JSON

POSTs each order of ORDERS_JSON (a JSON list) to ``/orders/`` through Django's test client,
then prints one JSON line: ``[{"status": …, "body": …}, …]``. A process of its own because
Django's settings are configured once per process (other tests configure Django without a
database).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(url: str, orders: list[object]) -> None:
    import django
    from django.conf import settings
    from example_modules import load_example
    from psycopg.conninfo import conninfo_to_dict

    example = load_example("outbox_django")
    params = conninfo_to_dict(url)
    settings.configure(
        SECRET_KEY="django-test-key-not-secret",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=example.__name__,
        MIDDLEWARE=[],
        USE_TZ=True,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",  # psycopg 3 when it is installed
                "NAME": params["dbname"],
                "USER": params.get("user", ""),
                "PASSWORD": params.get("password", ""),
                "HOST": params.get("host", ""),
                "PORT": params.get("port", ""),
            }
        },
        WEBHOOK_KIT_QUEUE=url,
    )
    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client()
    responses = []
    for order in orders:
        response = client.post("/orders/", data=json.dumps(order), content_type="application/json")
        responses.append({"status": response.status_code, "body": response.json()})
    import psycopg

    # Proof that the example ran on Django's psycopg 3 backend, not psycopg2.
    connection.ensure_connection()
    assert isinstance(connection.connection, psycopg.Connection)
    connection.close()
    print(json.dumps(responses))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))

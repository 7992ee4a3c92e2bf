"""A real S3-compatible server for the tests (moto's, in a thread, on a free port), and the
settings that point this process's media at it (studio/media_store.py, CONTINUITY_MEDIA_STORAGE=s3).
Import the fixture into a test module: `from tests.s3_server import s3_server  # noqa: F401`."""

from __future__ import annotations

from pathlib import Path

import pytest

BUCKET = "continuity-media"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_S3_REGION_NAME": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server in a thread of this process, with an empty bucket; its endpoint and a client."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    yield {"endpoint": endpoint, "client": client}
    server.stop()


def worker_env(endpoint: str) -> dict[str, str]:
    """The environment a worker process needs to use the same bucket."""
    return {"CONTINUITY_MEDIA_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_S3_ADDRESSING_STYLE": "path", **KEYS}


def use_s3(settings, endpoint: str, folder: Path) -> None:
    """Point this process's media at the bucket, with its own MEDIA_ROOT and cache under `folder`."""
    for name, value in worker_env(endpoint).items():
        setattr(settings, name, value)
    settings.CONTINUITY_MEDIA_STORAGE = "s3"
    settings.MEDIA_ROOT = folder / "media"
    settings.CONTINUITY_MEDIA_CACHE = folder / "cache"
    # Last: a new STORAGES resets Django's default storage, which then reads the AWS_* settings.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}


def stored_keys(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}

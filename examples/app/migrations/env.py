"""Alembic environment: the URL comes from DATABASE_URL and is never logged."""

import os
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


# Offline (`alembic upgrade head --sql`), the URL only names the dialect: nothing connects.
OFFLINE_URL = "postgresql://"


def database_url(offline: bool = False) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url and offline:
        return OFFLINE_URL
    if not url:
        sys.exit("DATABASE_URL is not set: the task definition must inject it (secrets).")
    # SQLAlchemy needs the driver named; ECS secrets usually hold a plain postgresql:// URL.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=database_url(offline=True), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()

#!/usr/bin/env python
"""The Django project of the real-tool tests: one app, `shop`, whose migrations ALTER
`accounts` (tests/e2e/test_tools_python.py). The database is DATABASE_URL's."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

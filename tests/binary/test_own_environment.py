"""own_environment: the command's environment without what a bundler put into apply's."""

from __future__ import annotations

from ecs_migrate.commands.apply.ownenv import own_environment

PYI = {"_PYI_APPLICATION_HOME_DIR": "/tmp/_MEIabc", "_PYI_PARENT_PROCESS_LEVEL": "1"}


def test_an_environment_no_bundler_touched_is_kept_as_is() -> None:
    given = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/app/lib", "LD_LIBRARY_PATH_ORIG": "x"}
    assert own_environment(given) == given
    assert own_environment(given) is not given


def test_the_original_library_path_is_restored() -> None:
    env = {
        **PYI,
        "LD_LIBRARY_PATH": "/tmp/_MEIabc:/opt/app/lib",
        "LD_LIBRARY_PATH_ORIG": "/opt/app/lib",
    }
    assert own_environment(env) == {"LD_LIBRARY_PATH": "/opt/app/lib"}


def test_an_empty_original_is_restored_empty() -> None:
    env = {**PYI, "LD_LIBRARY_PATH": "/tmp/_MEIabc", "LD_LIBRARY_PATH_ORIG": ""}
    assert own_environment(env) == {"LD_LIBRARY_PATH": ""}


def test_without_an_original_the_bundles_entries_go_and_the_variable_with_them() -> None:
    env = {**PYI, "LD_LIBRARY_PATH": "/tmp/_MEIabc:/tmp/_MEIabc/psycopg_binary.libs", "HOME": "/"}
    assert own_environment(env) == {"HOME": "/"}


def test_entries_outside_the_bundle_stay_in_their_order() -> None:
    env = {"LD_LIBRARY_PATH": "/b:/tmp/_MEIabc:/a:/tmp/_MEIabcdef", "A": "1"}
    assert own_environment(env, bundle_dir="/tmp/_MEIabc/") == {
        "LD_LIBRARY_PATH": "/b:/a:/tmp/_MEIabcdef",  # a sibling with the same prefix is not ours
        "A": "1",
    }


def test_the_bundle_dir_from_older_pyinstaller_variables() -> None:
    env = {"_MEIPASS2": "/tmp/_MEIold", "LD_LIBRARY_PATH": "/tmp/_MEIold"}
    assert own_environment(env) == {}


def test_every_bundler_variable_goes_and_nothing_else() -> None:
    env = {
        **PYI,
        "_PYI_ARCHIVE_FILE": "/ecs-migrate",
        "_MEIPASS2": "/tmp/_MEIabc",
        "STATICX_BUNDLE_DIR": "/tmp/staticx-x",
        "STATICX_PROG_PATH": "/ecs-migrate",
        "DATABASE_URL": "postgresql://u:p@h/d",
        "MY_PYI_SETTING": "kept",  # only the prefixes: a name that merely contains one stays
        "PATH": "/usr/local/bin:/usr/bin",
    }
    assert own_environment(env) == {
        "DATABASE_URL": "postgresql://u:p@h/d",
        "MY_PYI_SETTING": "kept",
        "PATH": "/usr/local/bin:/usr/bin",
    }


def test_the_given_mapping_is_not_changed() -> None:
    env = {**PYI, "LD_LIBRARY_PATH": "/tmp/_MEIabc", "LD_LIBRARY_PATH_ORIG": "/x"}
    before = dict(env)
    own_environment(env)
    assert env == before


def test_the_first_stages_tmpdir_is_undone() -> None:
    unset = {"TMPDIR": "/dev/shm", "_ECS_MIGRATE_TMPDIR_UNSET": "1", "_ECS_MIGRATE_PAYLOAD": "/x"}
    assert own_environment(unset) == {}
    moved = {"TMPDIR": "/var/tmp", "_ECS_MIGRATE_TMPDIR_ORIG": "/ro/scratch", "HOME": "/"}
    assert own_environment(moved) == {"TMPDIR": "/ro/scratch", "HOME": "/"}
    kept = {"TMPDIR": "/scratch", "_ECS_MIGRATE_PAYLOAD": "/scratch/ecs-migrate-a/ecs-migrate"}
    assert own_environment(kept) == {"TMPDIR": "/scratch"}

"""The Session Manager plugin's name, and how to install it on this machine.

`exec` and `shell` run the plugin; `doctor --exec` checks that it is installed. Both name it
and give the same install command, from here.
"""

from __future__ import annotations

import platform
import shutil

PLUGIN = "session-manager-plugin"
PLUGIN_DOCS = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)
PLUGIN_BASE = "https://s3.amazonaws.com/session-manager-downloads/plugin/latest"


def plugin_install_command(system: str, machine: str, has_dpkg: bool, has_rpm: bool) -> str:
    """The Session Manager plugin's install command for this kind of machine (AWS's docs)."""
    arm = machine.lower() in {"aarch64", "arm64"}
    if system == "Darwin":
        return "brew install --cask session-manager-plugin"
    if system == "Windows":
        return f"Download and run {PLUGIN_BASE}/windows/SessionManagerPluginSetup.exe"
    if has_rpm and not has_dpkg:
        flavour = "linux_arm64" if arm else "linux_64bit"
        return f"sudo yum install -y {PLUGIN_BASE}/{flavour}/session-manager-plugin.rpm"
    flavour = "ubuntu_arm64" if arm else "ubuntu_64bit"
    return (
        f"curl -fsSLo /tmp/session-manager-plugin.deb {PLUGIN_BASE}/{flavour}/"
        "session-manager-plugin.deb && sudo dpkg -i /tmp/session-manager-plugin.deb"
    )


def install_hint() -> str:
    """How to install the plugin here, and where AWS documents it."""
    command = plugin_install_command(
        platform.system(),
        platform.machine(),
        shutil.which("dpkg") is not None,
        shutil.which("rpm") is not None,
    )
    return f"{command}   (see {PLUGIN_DOCS})"

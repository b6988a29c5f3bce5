"""Builds the four stream integrations from settings and attaches them to an engine as toggleable modules."""

from __future__ import annotations

import logging
from typing import Any

from kitsu_tui.config.settings import Settings
from kitsu_tui.integrations.base import IntegrationModule
from kitsu_tui.integrations.obs import ObsModule
from kitsu_tui.integrations.twitch import TwitchModule
from kitsu_tui.integrations.vmc import VmcModule
from kitsu_tui.integrations.vtube_studio import VtsModule

log = logging.getLogger(__name__)


def build_integrations(settings: Settings) -> list[IntegrationModule]:
    """OBS, VTube Studio, VMC and Twitch modules (Twitch's !scene goes through the OBS module)."""
    obs = ObsModule(settings.obs)
    vts = VtsModule(settings.vts, settings.vts.resolved_token_path(settings.paths.data_dir))
    vmc = VmcModule(settings.vmc)
    twitch = TwitchModule(settings.twitch, scene_switcher=obs.switch_scene)
    return [obs, vts, vmc, twitch]


def enabled_names(settings: Settings) -> list[str]:
    """Names of the integrations whose section says enabled = true."""
    flags = {"obs": settings.obs.enabled, "vts": settings.vts.enabled, "vmc": settings.vmc.enabled,
             "twitch": settings.twitch.enabled}
    return [name for name, enabled in flags.items() if enabled]


async def attach_integrations(engine: Any, settings: Settings) -> list[IntegrationModule]:
    """Register every integration (shown as off) and start the enabled ones; returns without waiting to connect."""
    modules = build_integrations(settings)
    for module in modules:
        engine.register_module(module)
    for name in enabled_names(settings):
        await engine.toggle_module(name, True)
    return modules

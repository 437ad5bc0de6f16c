"""The WSGI application for gunicorn (`samflode serve --workers N`): one platform per worker process, built after
the fork (no database connection crosses it); with SAMFLODE_SCHEDULER=on the worker asks for a scheduler slot."""

from __future__ import annotations

import atexit

from engine.config import Settings
from engine.platform import build
from webui import create_app
from webui.ops import configure_logging

_settings = Settings.from_env()
configure_logging(_settings.log_format)
_platform = build(_settings)
app = create_app(platform=_platform)

if _settings.scheduler:
    from engine.jobs.heartbeat import SchedulerSlots
    from engine.jobs.scheduler import TimerScheduler

    _scheduler = TimerScheduler(
        _platform.timers,
        _settings.scheduler_safety_seconds,
        slots=SchedulerSlots(_platform.db, _settings.schedulers),
        listen_url=_settings.database_url,
        jobs=_platform.jobs,
    )
    _scheduler.start()
    atexit.register(_scheduler.shutdown)
atexit.register(_platform.close)

"""The web dashboard (``fleetcheck serve``): fleet status at a glance, one-click fix per host.

Modules: :mod:`.app` (Starlette routes, login, CSRF, security headers; every
handler runs in a worker thread, never on the event loop), :mod:`.officeview`
(what the pages show, built once from the store and rebuilt when a run is
recorded), :mod:`.fleet` (store, rescans, previews and fixes: the same code as
the CLI), :mod:`.jobs` (bounded background jobs, one per host), :mod:`.auth`
(password hashes, start-up token, CSRF tokens), :mod:`.views` (pure page
helpers: filters, paging, progress lines).
Templates live in ``reports_templates/web/`` and share ``reports_templates/partials/``
with the HTML report.

Example::

    fleet = Fleet(FleetSettings(db_url="sqlite:///history.db", inventory=Path("inventory.yaml")))
    app = create_app(fleet, Credentials(users={"admin": hash_password("s3cret")}))
    uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.fleet import Fleet, FleetSettings

__all__ = ["Credentials", "Fleet", "FleetSettings", "create_app", "hash_password"]

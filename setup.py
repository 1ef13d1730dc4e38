"""Ship the top-level policies/ and reports_templates/ folders inside the package.

The product layout keeps them at the top of the repository; at run time they are
found through ``fleetcheck.resources`` either inside the installed wheel or, in a
checkout, beside the package.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fleetcheck", "fleetcheck.*"])
    + ["fleetcheck.policies", "fleetcheck.reports_templates"],
    package_dir={
        "fleetcheck.policies": "policies",
        "fleetcheck.reports_templates": "reports_templates",
    },
    package_data={
        "fleetcheck": ["py.typed"],
        "fleetcheck.agent": ["*.ps1"],
        "fleetcheck.sim": ["images/*.yaml", "offices/*.yaml", "*.json"],
        "fleetcheck.policies": ["*.yaml"],
        "fleetcheck.reports_templates": ["*.html", "*.j2", "*.css", "*.js", "*.xml", "*.txt", "*.json",
                                         "partials/*.j2", "web/*.j2", "web/*.css", "web/*.js"],
    },
)

"""The ``ehcp`` command line."""

from __future__ import annotations

import click

from cli.agencies_cmd import agencies
from cli.case_cmd import alerts, case
from cli.casework_cmd import explain
from cli.child_cmd import child
from cli.dev_cmd import dev
from cli.dlq_cmd import dlq
from cli.import_cmd import import_
from cli.kafka_cmd import kafka
from cli.notify_cmd import notify
from cli.report_cmd import report
from cli.run_cmd import connectors, worker
from cli.schemas_cmd import schemas
from cli.topics_cmd import topics
from cli.users_cmd import users
from cli.workspace_cmd import workspace
from ehcp import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ehcp")
def cli() -> None:
    """EHCP Exchange: route EHC needs assessment advice between agencies over Kafka."""


case.add_command(explain)
for command in (kafka, topics, worker, connectors, agencies, case, alerts, dlq, import_, dev,
                workspace, users, notify):
    cli.add_command(command)
cli.add_command(schemas)
cli.add_command(child)
cli.add_command(report)


def main() -> None:
    """Console entry point."""
    cli()


if __name__ == "__main__":
    main()

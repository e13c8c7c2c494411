"""`AwsRegionSpec`: the `Region` of a function on AWS, built from its `AwsSettings`.

The spec is plain data (it pickles); `build` opens the ports over clients from
`mrbatch.aws.clients`, so the first handler call of a container makes the clients and
every later call reuses them. Nothing is created at import.

| port            | AWS                                                         |
|-----------------|-------------------------------------------------------------|
| store           | S3ObjectStore over the region's versioned bucket            |
| tables          | DynamoDBTable over the global tables                        |
| routing         | DynamoDBRoutingControl (strongly consistent item, epochs)   |
| notifier        | SesNotifier (SESv2, conditional-write ledger table)         |
| metrics         | EmfMetrics (embedded metric format on standard output)      |
| financials      | TableFinancialSource over the financial global table        |
| presign         | links through the Multi-Region Access Point, or the bucket  |
"""

from __future__ import annotations

from dataclasses import dataclass

from mrbatch.aws.clients import client
from mrbatch.aws.presign import presigner
from mrbatch.aws.settings import AwsSettings
from mrbatch.enrichment.table import TableFinancialSource
from mrbatch.handlers.region import Region
from mrbatch.metrics.emf import EmfMetrics
from mrbatch.notify.ses import MAIL_LEDGER, SesNotifier
from mrbatch.pipeline import load_rules
from mrbatch.routing.dynamodb import DynamoDBRoutingControl
from mrbatch.state import BATCH_STATE, ERRORS, FINANCIALS, DynamoDBTable
from mrbatch.state.schema import TableSpec
from mrbatch.storage import S3ObjectStore

__all__ = ["AwsRegionSpec"]


@dataclass(frozen=True)
class AwsRegionSpec:
    """A `RegionSpec` for one region of the AWS deployment."""

    settings: AwsSettings

    def build(self) -> Region:
        """See `mrbatch.handlers.region.RegionSpec.build`."""
        s = self.settings
        target = s.access_point_arn or s.bucket
        return Region(
            name=s.region,
            store=S3ObjectStore(client("s3", s.region), s.bucket),
            batch_state=self.table(BATCH_STATE, s.batch_state_table),
            errors=self.table(ERRORS, s.errors_table),
            routing=self.routing(),
            notifier=SesNotifier(
                client("sesv2", s.region), self.table(MAIL_LEDGER, s.mail_ledger_table)
            ),
            metrics=EmfMetrics(namespace=s.metrics_namespace),
            financials=TableFinancialSource(self.table(FINANCIALS, s.financials_table)),
            rules=load_rules(s.schema),
            chunk_size=s.chunk_size,
            sender=s.sender,
            recipients=s.recipients,
            presign=presigner(
                lambda: client("s3", s.region, purpose="presign"),
                target,
                expires_in=s.presign_expiry_seconds,
            ),
        )

    def table(self, spec: TableSpec, name: str) -> DynamoDBTable:
        """The global table `name` (of shape `spec`) through this region's endpoint."""
        return DynamoDBTable(client("dynamodb", self._table_region), spec, table_name=name)

    def routing(self) -> DynamoDBRoutingControl:
        """The routing control (its table is strongly consistent across regions)."""
        s = self.settings
        dynamodb = client("dynamodb", self._table_region)
        return DynamoDBRoutingControl(dynamodb, s.routing_table, s.regions)

    @property
    def _table_region(self) -> str:
        return self.settings.table_region or self.settings.region

"""Where rows get their financial data (the `FinancialSource` port, `mrbatch.ports`).

`TableFinancialSource` (`enrichment.table`) reads the region's financial table directly;
`HttpFinancialSource` (`enrichment.api`) asks the region's enrichment API, which
`enrichment.api.build_app` serves (SigV4-signed, as API Gateway with IAM auth);
`CsvFinancialSource` (`mrbatch.pipeline.enrich`) is the pure core's, over a CSV file.
"""

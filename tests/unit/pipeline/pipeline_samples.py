"""Byte samples shared by the pipeline tests."""

from __future__ import annotations

HEADER = b"uuid,Country,Item Type,Sales Channel,Order Priority,Order Date,Region,Ship Date\n"
OUT_HEADER = (
    b"uuid,Country,Item Type,Sales Channel,Order Priority,Order Date,Region,Ship Date,"
    b"Units Sold,Unit Price,Unit Cost,Total Revenue,Total Cost,Total Profit\n"
)
FINANCIALS = (
    b"uuid,unitsSold,unitPrice,unitCost,totalRevenue,totalCost,totalProfit\n"
    b"535113847,934,152.58,97.44,142509.72,91008.96,51500.76\n"
    b"874708545,4551,437.2,263.33,1989697.2,1198414.83,791282.37\n"
    b"854349935,9986,9.33,6.92,93169.38,69103.12,24066.26\n"
)
ROW_A = b"535113847,Azerbaijan,Snacks,Online,C,10/8/14,Middle East and North Africa,10/23/14"
ROW_B = b"874708545,Panama,Cosmetics,Offline,L,2/22/15,Central America and the Caribbean,2/27/15"
FIN_A = b",934,152.58,97.44,142509.72,91008.96,51500.76"
FIN_B = b",4551,437.2,263.33,1989697.2,1198414.83,791282.37"

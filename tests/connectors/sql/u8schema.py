"""A U8-like schema (yonyou.md §A7) created by the tests, with constraints to violate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
MONEY = sa.Numeric(18, 2)
T0 = dt.datetime(2026, 11, 2, 8, 0, 0)  # naive, the database's local time (UTC here)


def u8_metadata() -> sa.MetaData:
    """SO_SOMain, SO_SODetails, Customer, Inventory, CurrentStock and a view."""
    md = sa.MetaData()
    customer = sa.Table(
        "Customer",
        md,
        sa.Column("cCusCode", sa.String(20), primary_key=True),
        sa.Column("cCusName", sa.String(98), nullable=False),
        sa.Column("cCusAbbName", sa.String(60)),
        sa.Column("cCusPhone", sa.String(100)),
        sa.Column("iCusCreLine", MONEY),
        sa.Column("bCredit", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("dModifyDate", STAMP),
    )
    customer.append_constraint(
        sa.CheckConstraint(customer.c.iCusCreLine >= 0, name="ck_customer_credit")
    )
    sa.Table(
        "Inventory",
        md,
        sa.Column("cInvCode", sa.String(60), primary_key=True),
        sa.Column("cInvName", sa.String(255), nullable=False),
        sa.Column("cInvStd", sa.String(255)),
    )
    sa.Table(
        "SO_SOMain",
        md,
        sa.Column("ID", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cSOCode", sa.String(30), nullable=False, unique=True),
        sa.Column("dDate", sa.Date, nullable=False),
        sa.Column("cCusCode", sa.String(20), sa.ForeignKey("Customer.cCusCode"), nullable=False),
        sa.Column("iTaxRate", sa.Numeric(8, 2)),
        sa.Column("iStatus", sa.Integer),
        sa.Column("cMaker", sa.String(20)),
        sa.Column("dmodifysystime", STAMP),
    )
    sa.Table(
        "SO_SODetails",
        md,
        sa.Column("iSOsID", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ID", sa.Integer, sa.ForeignKey("SO_SOMain.ID"), nullable=False),
        sa.Column("iRowNo", sa.Integer, nullable=False),
        sa.Column("cInvCode", sa.String(60), sa.ForeignKey("Inventory.cInvCode"), nullable=False),
        sa.Column("iQuantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("iTaxUnitPrice", MONEY),
        sa.Column("iSum", MONEY),
    )
    sa.Table(
        "CurrentStock",
        md,
        sa.Column("AutoID", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cWhCode", sa.String(10), nullable=False),
        sa.Column("cInvCode", sa.String(60), nullable=False),
        sa.Column("iQuantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("fAvaQuantity", sa.Numeric(18, 4)),
    )
    return md


def create_u8(engine: sa.Engine, customers: int = 5) -> None:
    """Create the tables, a view, and seed customers, inventory, one order, stock."""
    md = u8_metadata()
    md.create_all(engine)
    t = md.tables
    with engine.begin() as conn:
        conn.execute(
            t["Customer"].insert(),
            [
                {
                    "cCusCode": f"C{n:04d}",
                    "cCusName": f"客户{n}",
                    "iCusCreLine": Decimal("10000.00") * n,
                    "dModifyDate": T0 + dt.timedelta(seconds=n),
                }
                for n in range(1, customers + 1)
            ],
        )
        conn.execute(
            t["Inventory"].insert(),
            [{"cInvCode": f"I{n:03d}", "cInvName": f"物料{n}"} for n in range(1, 4)],
        )
        conn.execute(
            t["SO_SOMain"].insert(),
            [
                {  # ID 1 from the sequence (an explicit id would not advance PostgreSQL's)
                    "cSOCode": "SO0001",
                    "dDate": dt.date(2026, 11, 2),
                    "cCusCode": "C0001",
                    "iStatus": 1,
                    "dmodifysystime": T0,
                }
            ],
        )
        conn.execute(
            t["SO_SODetails"].insert(),
            [
                {"ID": 1, "iRowNo": 2, "cInvCode": "I002", "iQuantity": 5, "iSum": 50},
                {"ID": 1, "iRowNo": 1, "cInvCode": "I001", "iQuantity": 2, "iSum": 20},
            ],
        )
        conn.execute(
            t["CurrentStock"].insert(),
            [{"cWhCode": "01", "cInvCode": "I001", "iQuantity": 7, "fAvaQuantity": 5}],
        )
    prep = engine.dialect.identifier_preparer
    view = prep.quote("v_customer_credit")
    cust = prep.quote("Customer")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE VIEW {view} AS SELECT {prep.quote('cCusCode')}, "
            f"{prep.quote('iCusCreLine')} FROM {cust}"
        )

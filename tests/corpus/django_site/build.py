"""Run in a subprocess: `migrate`, then rows through the ORM. Usage: build.py OUT.sqlite3"""

import os
import random
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ["CORPUS_DJANGO_DB"] = sys.argv[1]
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"

import django

django.setup()

# Django's models import only after setup() (the settings module above decides the database)
from django.contrib.auth.models import Group, Permission, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from shop.models import Customer, Order, Product  # noqa: E402

call_command("migrate", verbosity=0)
rnd = random.Random(2)
staff = Group.objects.create(name="staff")
staff.permissions.set(Permission.objects.filter(codename__startswith="view_"))
User.objects.create_superuser("admin", "admin@example.com", "pw")
start = datetime(2024, 11, 3, 1, 30, tzinfo=UTC)
customers = []
for i in range(40):
    user = User.objects.create_user(f"user{i}", f"user{i}@example.com", "pw", first_name=f"이름{i}")
    user.groups.add(staff) if i % 5 == 0 else None
    customers.append(
        Customer.objects.create(
            user=user,
            nickname=f"nick-{i}",
            is_vip=i % 6 == 0,
            preferences={"lang": "ko", "news": i % 2 == 0, "sizes": [i, i + 0.5]},
            joined_at=start + timedelta(days=i, microseconds=i * 1001),
        )
    )
products = [
    Product.objects.create(
        sku=f"SKU-{i:05d}",
        name=f"상품 {i}",
        price=Decimal(rnd.randrange(100, 99999)) / 100,
        in_stock=i % 4 != 0,
        released=None if i % 7 == 0 else date(2020, 1, 1) + timedelta(days=i * 9),
    )
    for i in range(60)
]
for i in range(200):
    order = Order.objects.create(
        customer=customers[i % 40],
        paid=i % 3 != 0,
        total=Decimal(rnd.randrange(100, 500000)) / 100,
        shipping=None
        if i % 8 == 0
        else {"city": "Seoul", "zip": f"{i:05d}", "express": i % 2 == 0},
        note="" if i % 2 else f"주문 메모 {i}",
    )
    order.products.set(rnd.sample(products, 1 + i % 3))

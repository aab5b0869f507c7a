"""The shop app: customers, products, orders with JSON, datetimes, decimals, booleans."""

from django.db import models


class Customer(models.Model):
    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, primary_key=True)
    nickname = models.CharField(max_length=30, unique=True)
    is_vip = models.BooleanField(default=False)
    preferences = models.JSONField(default=dict)
    joined_at = models.DateTimeField()


class Product(models.Model):
    sku = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=80)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    in_stock = models.BooleanField(default=True)
    released = models.DateField(null=True)


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    products = models.ManyToManyField(Product, related_name="orders")
    placed_at = models.DateTimeField(auto_now_add=True)
    paid = models.BooleanField(default=False)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    shipping = models.JSONField(null=True)
    note = models.TextField(blank=True)

"""The DNS service: ServiceDNSRecord / IngressDNSRecord in, external-dns DNSEndpoint out."""

from services.dns._resolver import Resolver, StaticResolver, system_resolver
from services.dns._service import DNSSettings, run_dns

__all__ = ["DNSSettings", "Resolver", "StaticResolver", "run_dns", "system_resolver"]

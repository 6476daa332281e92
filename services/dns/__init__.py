"""The DNS service: ServiceDNSRecord / IngressDNSRecord in, external-dns DNSEndpoint out."""

from services.dns._service import DNSSettings, run_dns

__all__ = ["DNSSettings", "run_dns"]

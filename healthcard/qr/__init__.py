"""QR codes and national identifiers of the electronic health card."""

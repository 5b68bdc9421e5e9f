//! The test kit's one PKI: a fresh test CA that signs loopback server certificates (the emulator's
//! HTTPS, the kube-apiserver's serving certificate) and client certificates (the control plane's
//! users). Keys never leave the test's directories; nothing here is fit for anything but tests.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The names every loopback server certificate is valid for.
pub const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed test CA.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `common_name` (key cert sign, CRL sign, digital signature).
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(Self {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate()?)?,
        })
    }

    /// The CA certificate (what clients trust).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for [`LOOPBACK_NAMES`], named `common_name`.
    pub fn loopback_server(&self, common_name: &str) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(LOOPBACK_NAMES.map(String::from).to_vec())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for user `common_name` in group (organization) `organization`.
    pub fn client(&self, common_name: &str, organization: &str) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<Issued, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_pem_and_distinct() {
        let ca = TestCa::new("test CA").unwrap();
        let server = ca.loopback_server("server").unwrap();
        let client = ca.client("admin", "system:masters").unwrap();
        assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(server.key_pem.contains("PRIVATE KEY"));
        assert_ne!(server.cert_pem, client.cert_pem);
        assert_ne!(server.cert_pem, ca.pem());
    }
}

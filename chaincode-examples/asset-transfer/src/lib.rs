//! The asset-transfer reference chaincode (not yet written).

package state

import bolt "go.etcd.io/bbolt"

func rewriteMagic(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyMagic, []byte("someone-else"))
	})
}
